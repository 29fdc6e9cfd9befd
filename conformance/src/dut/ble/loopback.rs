//! BLE without hardware: when the embedded simulator is to be reached over BLE and no bus is given,
//! the suite starts a private D-Bus with `bluez_loopback` (a fake `bluetoothd`) on it and runs itself
//! again as a child with `DBUS_SYSTEM_BUS_ADDRESS` pointing there.
//!
//! Why a child: `bluer` finds BlueZ only through that variable, and setting it in this (multi-threaded)
//! process would be `unsafe` (BLE-TESTBED pitfall 13). The child inherits stdin/stdout/stderr, and its
//! exit status becomes ours. [`CHILD_MARKER`] keeps the child from doing it again.
//!
//! Why not `bluez_loopback::Testbed`: its bus keeps dbus-daemon's default of 256 connections per user,
//! and each embedded device's `bluer` session leaves its connection open when dropped (bluer 0.17.4's
//! event task waits forever on a `RemoveMatch` reply after the I/O task is aborted), so a full run
//! (hundreds of fresh devices) exhausts it. This bus raises the limits; the loopback is the same.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use bluez_loopback::Options;

use super::host::LOOPBACK_ADAPTERS;

/// The variable `bluer` (libdbus) reads to find the system bus.
pub const BUS_VAR: &str = "DBUS_SYSTEM_BUS_ADDRESS";

/// Set on the child: it runs under a loopback its parent started.
pub const CHILD_MARKER: &str = "PROVLAB_CONFORMANCE_BLE_LOOPBACK";

const BUS_CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
  <limit name="max_connections_per_user">100000</limit>
  <limit name="max_completed_connections">100000</limit>
  <limit name="max_match_rules_per_connection">100000</limit>
  <limit name="max_replies_per_connection">100000</limit>
</busconfig>
"#;

/// Whether this process runs under a loopback the suite started.
pub fn under_loopback() -> bool {
    std::env::var_os(CHILD_MARKER).is_some()
}

/// Whether a loopback must be started: nobody gave a bus, and this is not already the child.
pub fn wanted(no_loopback: bool) -> bool {
    !no_loopback && std::env::var_os(BUS_VAR).is_none() && !under_loopback()
}

/// A private bus: the daemon and its directory, both gone on drop.
struct Bus {
    dir: PathBuf,
    daemon: Child,
    address: String,
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_bus() -> Result<Bus, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("provlab-ble-{}-{nanos:x}", std::process::id()));
    std::fs::create_dir(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let conf = dir.join("system-bus.conf");
    let address = format!("unix:path={}", dir.join("bus").display());
    let spawned = std::fs::write(&conf, BUS_CONFIG)
        .and_then(|()| {
            Command::new("dbus-daemon")
                .arg(format!("--config-file={}", conf.display()))
                .arg(format!("--address={address}"))
                .args(["--nofork", "--print-address=1"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
        })
        .map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            format!("starting dbus-daemon (Debian package dbus-daemon): {e}")
        })?;
    let mut bus = Bus {
        dir,
        daemon: spawned,
        address,
    };
    // The daemon prints its address once it listens.
    let mut line = String::new();
    let stdout = bus.daemon.stdout.take().ok_or("dbus-daemon: no stdout")?;
    if BufReader::new(stdout).read_line(&mut line).is_err() || line.trim().is_empty() {
        return Err("dbus-daemon did not start".into());
    }
    Ok(bus)
}

/// Waits until somebody owns `org.bluez` on `address`.
fn wait_for_bluez(address: &str, within: Duration) -> Result<(), String> {
    let mut ch = dbus::channel::Channel::open_private(address).map_err(|e| e.to_string())?;
    ch.register().map_err(|e| e.to_string())?;
    let conn = dbus::blocking::Connection::from(ch);
    let proxy = conn.with_proxy(
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        Duration::from_secs(2),
    );
    let until = Instant::now() + within;
    loop {
        let (owned,): (bool,) = proxy
            .method_call("org.freedesktop.DBus", "NameHasOwner", ("org.bluez",))
            .map_err(|e| e.to_string())?;
        if owned {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(format!(
                "nobody owns org.bluez after {} s",
                within.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Starts a loopback with ATT MTU `mtu`, runs this program again (same arguments) on its bus, and
/// returns the child's exit status.
pub fn rerun(mtu: u16) -> Result<ExitCode, String> {
    let bus = start_bus()?;
    let opts = Options {
        mtu,
        adapters: (0..LOOPBACK_ADAPTERS).map(|i| format!("hci{i}")).collect(),
        ..Options::default()
    };
    let address = bus.address.clone();
    // Runs until the bus goes away (the daemon is killed when `bus` drops).
    std::thread::Builder::new()
        .name("bluez-loopback".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                if let Err(e) = rt.block_on(bluez_loopback::serve(&address, opts)) {
                    tracing::debug!(error = %e, "BLE loopback ended");
                }
            }
        })
        .map_err(|e| format!("starting the BLE loopback thread: {e}"))?;
    wait_for_bluez(&bus.address, Duration::from_secs(20))
        .map_err(|e| format!("starting the BLE loopback: {e}"))?;
    let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
    let status = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(BUS_VAR, &bus.address)
        .env(CHILD_MARKER, "1")
        .status()
        .map_err(|e| format!("running the suite under the BLE loopback: {e}"))?;
    drop(bus);
    Ok(match status.code() {
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}
