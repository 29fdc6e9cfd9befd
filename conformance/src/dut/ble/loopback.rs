//! BLE without hardware: when the embedded simulator is to be reached over BLE and no bus is given,
//! the suite starts a private D-Bus with `bluez_loopback` (a fake `bluetoothd`) on it and runs itself
//! again as a child with `DBUS_SYSTEM_BUS_ADDRESS` pointing there.
//!
//! Why a child: `bluer` finds BlueZ only through that variable, and setting it in this (multi-threaded)
//! process would be `unsafe` (BLE-TESTBED pitfall 13). The child inherits stdin/stdout/stderr, and its
//! exit status becomes ours. [`CHILD_MARKER`] keeps the child from doing it again.

use std::process::{Command, ExitCode};

use bluez_loopback::{Options, Testbed};

use super::host::LOOPBACK_ADAPTERS;

/// The variable `bluer` (libdbus) reads to find the system bus.
pub const BUS_VAR: &str = "DBUS_SYSTEM_BUS_ADDRESS";

/// Set on the child: it runs under a loopback its parent started.
pub const CHILD_MARKER: &str = "PROVLAB_CONFORMANCE_BLE_LOOPBACK";

/// Whether this process runs under a loopback the suite started.
pub fn under_loopback() -> bool {
    std::env::var_os(CHILD_MARKER).is_some()
}

/// Whether a loopback must be started: nobody gave a bus, and this is not already the child.
pub fn wanted(no_loopback: bool) -> bool {
    !no_loopback && std::env::var_os(BUS_VAR).is_none() && !under_loopback()
}

/// Starts a loopback with ATT MTU `mtu`, runs this program again (same arguments) on its bus, and
/// returns the child's exit status.
pub fn rerun(mtu: u16) -> Result<ExitCode, String> {
    let opts = Options {
        mtu,
        adapters: (0..LOOPBACK_ADAPTERS).map(|i| format!("hci{i}")).collect(),
        ..Options::default()
    };
    let bus = Testbed::start(opts).map_err(|e| format!("starting the BLE loopback: {e}"))?;
    let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
    let status = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(BUS_VAR, bus.bus_address())
        .env(CHILD_MARKER, "1")
        .status()
        .map_err(|e| format!("running the suite under the BLE loopback: {e}"))?;
    drop(bus);
    Ok(match status.code() {
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}
