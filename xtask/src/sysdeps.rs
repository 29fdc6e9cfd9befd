//! System packages the workspace needs beyond Rust: libdbus (bluer, the BLE transport, links to it
//! through pkg-config) and dbus-daemon (the BLE tests run a private bus with `bluez-loopback`).
//!
//! Checked before anything builds. As root on Debian/Ubuntu they are installed with apt-get (the CI
//! machine); otherwise the task stops and prints the one command that fixes it.

use std::process::{Command, Stdio};

use anyhow::{bail, Result};

/// A Debian package and how to tell it is present.
type Package = (&'static str, fn() -> bool);

/// The packages.
const PACKAGES: &[Package] = &[
    ("pkg-config", || runs("pkg-config", &["--version"])),
    ("libdbus-1-dev", || {
        runs("pkg-config", &["--exists", "dbus-1"])
    }),
    ("dbus-daemon", || runs("dbus-daemon", &["--version"])),
];

fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure every package is there, installing the missing ones when that is possible.
pub(crate) fn ensure() -> Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, present)| !present())
        .map(|(name, _)| *name)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let fix = format!("sudo apt-get install -y {}", missing.join(" "));
    let root = runs("sh", &["-c", "test \"$(id -u)\" = 0"]);
    if !root || !runs("apt-get", &["--version"]) {
        bail!(
            "missing system packages: {}. Install them with:\n  {fix}",
            missing.join(", ")
        );
    }
    eprintln!("==> installing {} (apt-get)", missing.join(" "));
    let install = |update: bool| {
        if update {
            let _ = Command::new("apt-get").args(["update", "-qq"]).status();
        }
        Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install(false) && !install(true) {
        bail!(
            "apt-get could not install {}; try:\n  {fix}",
            missing.join(" ")
        );
    }
    let still: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, present)| !present())
        .map(|(name, _)| *name)
        .collect();
    if !still.is_empty() {
        bail!("still missing after apt-get: {}", still.join(", "));
    }
    Ok(())
}
