//! The suite over BLE against the embedded simulator, end to end through the `conformance` binary: it
//! starts its own fake bluetoothd (bluez-loopback on a private D-Bus) and runs itself again on it, so
//! nothing here touches `DBUS_SYSTEM_BUS_ADDRESS` (BLE-TESTBED pitfall 13).
//!
//! Needs `dbus-daemon` (Debian package dbus-daemon).

use std::process::Command;

/// Runs `conformance --transport ble ARGS` (no golden replay unless asked) and returns (exit code,
/// stdout).
fn run(args: &[&str]) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!(
        "provlab-ble-reports-{}-{}",
        std::process::id(),
        args.join("_").replace(['/', '*', ','], "_")
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_conformance"))
        .args(["--transport", "ble", "--report-dir"])
        .arg(&dir)
        .args(args)
        .env_remove("DBUS_SYSTEM_BUS_ADDRESS")
        .env_remove("PROVLAB_CONFORMANCE_BLE_LOOPBACK")
        .output()
        .expect("run conformance");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (
        out.status.code().unwrap_or(-1),
        format!("{stdout}\n--- stderr ---\n{stderr}"),
    )
}

/// `N passed, M failed, K not applicable` from the last line.
fn tally(out: &str) -> (u32, u32) {
    let line = out
        .lines()
        .find(|l| l.contains(" passed, ") && l.contains(" failed, "))
        .unwrap_or_else(|| panic!("no tally line in:\n{out}"));
    let n = |word: &str| -> u32 {
        let before = line.split(word).next().unwrap_or_default();
        before
            .split_whitespace()
            .last()
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("cannot read {word:?} in {line:?}"))
    };
    (n(" passed"), n(" failed"))
}

#[test]
fn ble_suite_passes_at_default_mtu() {
    let (code, out) = run(&["--security", "1"]);
    let (pass, fail) = tally(&out);
    assert_eq!(fail, 0, "{out}");
    assert_eq!(code, 0, "{out}");
    assert!(pass > 80, "suspiciously few passes ({pass}):\n{out}");
}

#[test]
fn ble_suite_passes_at_mtu_23_through_offset_reads() {
    let (code, out) = run(&["--security", "2", "--ble-mtu", "23", "--no-golden"]);
    let (pass, fail) = tally(&out);
    assert_eq!(fail, 0, "{out}");
    assert_eq!(code, 0, "{out}");
    assert!(pass > 40, "suspiciously few passes ({pass}):\n{out}");
}

#[test]
fn ble_cases_judge_the_transport() {
    let (code, out) = run(&[
        "--security",
        "0",
        "--filter",
        "BLE-*",
        "--no-golden",
        "--ble-mtu",
        "23",
        "--verbose",
    ]);
    assert_eq!(code, 0, "{out}");
    for id in [
        "BLE-CUD-NAMES",
        "BLE-READ-BEFORE-WRITE",
        "BLE-ERROR-DISCONNECTS",
        "BLE-LONG-READ",
    ] {
        assert!(
            out.lines().any(|l| l.contains(" pass ") && l.contains(id)),
            "{id} did not pass:\n{out}"
        );
    }
}

#[test]
fn bluedroid_profile_drops_the_link_after_an_error() {
    let (code, out) = run(&[
        "--security",
        "1",
        "--filter",
        "BLE-ERROR-DISCONNECTS",
        "--no-golden",
        "--ble-stack",
        "bluedroid",
        "--verbose",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 passed, 0 failed"), "{out}");
}

/// A device that ignores the read offset answers a long read with its first MTU-1 bytes again: at
/// MTU 23 the suite must catch it (self-check row for `ble-ignore-read-offset`).
#[test]
fn ignoring_the_read_offset_is_caught_at_mtu_23() {
    let (code, out) = run(&[
        "--security",
        "1",
        "--ble-mtu",
        "23",
        "--filter",
        "BLE-*,SEC1-HANDSHAKE,VER-JSON",
        "--no-golden",
        "self-check",
        "--only",
        "ble-ignore-read-offset",
    ]);
    assert_eq!(code, 0, "{out}");
    let row = out
        .lines()
        .find(|l| l.starts_with("| `ble-ignore-read-offset`"))
        .unwrap_or_else(|| panic!("no table row:\n{out}"));
    assert!(row.contains("| caught |"), "{row}");
    assert!(out.contains("| all pass |"), "{out}");
}
