//! Espressif's esp_prov in a Python virtual environment under `target/esp-prov-venv`.
//!
//! esp_prov's only registry copy is inside the PyPI package `esp-rainmaker-cli`; its other dependencies
//! (OpenCV, NumPy, esptool, ...) serve the RainMaker CLI, not esp_prov, so it is installed with `--no-deps`
//! plus the packages esp_prov imports: protobuf and cryptography for the protocol, and bleak (with
//! dbus-fast, its D-Bus client on Linux) for the BLE transport. Versions are pinned so CI runs the client
//! we tested against.
//!
//! bleak matters more than its absence suggests: when it does not import, esp_prov's BLE transport
//! silently falls back to a "console" client that asks the user to copy bytes by hand. So the venv counts
//! as ready only when esp_prov picked the bleak client.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::status as run;

/// Pinned packages: esp_prov itself, then what it imports, then bleak and what bleak pulls on Linux
/// (dbus-fast; typing-extensions on Python < 3.12, pinned everywhere so every venv is the same).
const ESP_PROV: &str = "esp-rainmaker-cli==1.14.1";
const DEPS: [&str; 5] = [
    "protobuf==7.36.2",
    "cryptography==50.0.2",
    "bleak==3.1.0",
    "dbus-fast==5.2.0",
    "typing-extensions==4.16.0",
];

/// Run by the venv's Python: exits 0 only if bleak imports and esp_prov's BLE transport chose its bleak
/// client (`ble_cli.fallback` is esp_prov's own flag for the console fallback).
const BLE_CHECK: &str = "import sys, bleak, dbus_fast\n\
from rmaker_tools.common.transport import ble_cli\n\
sys.exit(1 if ble_cli.fallback else 0)\n";

/// Where the venv lives.
pub(crate) fn venv(root: &Path) -> PathBuf {
    root.join("target/esp-prov-venv")
}

/// The venv's Python, installing esp_prov first if it is not importable.
pub(crate) fn setup(root: &Path) -> Result<PathBuf> {
    let dir = venv(root);
    let py = dir.join("bin/python");
    if py.exists() && importable(root, &py) {
        return Ok(py);
    }
    let python = find_python()?;
    eprintln!(
        "==> installing esp_prov ({ESP_PROV}) into {}",
        dir.display()
    );
    run(Command::new(&python).args(["-m", "venv"]).arg(&dir)).with_context(|| {
        format!(
            "`{python} -m venv` failed: install Python's venv module (Debian: apt install python3-venv)"
        )
    })?;
    let pip = |args: &[&str]| {
        run(Command::new(&py)
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
            .args(args))
        .context("pip install failed: esp_prov comes from PyPI, which must be reachable")
    };
    pip(&["--no-deps", ESP_PROV])?;
    pip(&DEPS)?;
    if !importable(root, &py) {
        bail!(
            "esp_prov was installed but does not import (or its BLE transport has no bleak); remove {} \
             and retry",
            dir.display()
        );
    }
    Ok(py)
}

/// Run esp_prov (through `tools/esp_prov_shim.py`) with the user's arguments.
pub(crate) fn run_esp_prov(root: &Path, args: &[String]) -> Result<()> {
    let py = setup(root)?;
    let st = Command::new(py)
        .arg(root.join("tools/esp_prov_shim.py"))
        .args(args)
        .status()
        .context("could not start esp_prov")?;
    if !st.success() {
        bail!("esp_prov exited with {st}");
    }
    Ok(())
}

/// Whether esp_prov starts, imported exactly as the tests import it (through the shim), and its BLE
/// transport has bleak.
fn importable(root: &Path, py: &Path) -> bool {
    let ok = |cmd: &mut Command| cmd.output().is_ok_and(|o| o.status.success());
    ok(Command::new(py)
        .arg(root.join("tools/esp_prov_shim.py"))
        .arg("--help"))
        && ok(Command::new(py).args(["-c", BLE_CHECK]))
}

fn find_python() -> Result<String> {
    for cand in ["python3", "python"] {
        if Command::new(cand)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Ok(cand.to_owned());
        }
    }
    bail!("Python 3 is needed for the esp_prov interop tests: install python3 and python3-venv")
}
