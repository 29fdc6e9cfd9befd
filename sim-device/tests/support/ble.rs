//! BLE process tests: `sim-device --transport ble` and esp_prov's BLE transport on a private D-Bus.
//!
//! Both processes find "bluetoothd" (a `bluez_loopback::Testbed`) through `DBUS_SYSTEM_BUS_ADDRESS`, which
//! is set on each child only: setting it in the test process would be `unsafe` and would leak into tests
//! running in parallel, each of which has its own bus (BLE-TESTBED pitfall 13).
//!
//! The device runs with `--no-control`, so its events are read from its JSON log lines (target
//! `sim_device::event`), the same records the control channel serves. The BLE transport logs at trace
//! level too, so a test can count the GATT reads it served (one line per read, with its `offset`).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::{esp_prov_python, esp_prov_shim, sim_binary, spawn_line_reader, unique, EspProvRun};

/// The variable bluer and dbus-fast (so bleak and esp_prov) read to find the system bus.
pub const BUS_VAR: &str = "DBUS_SYSTEM_BUS_ADDRESS";

/// The device's log filter: debug, and every GATT read of the BLE transport.
const RUST_LOG: &str = "debug,sim_device::transport::ble=trace";

/// A running `sim-device --transport ble`, killed on drop.
pub struct BleSim {
    child: Child,
    /// The adapter the device advertises on (`hci0`, ...), from the banner.
    pub adapter: String,
    /// The advertised name (esp_prov's `--service_name`).
    pub name: String,
    /// The provisioning service UUID.
    pub service_uuid: String,
    /// Everything printed on stdout up to and including the BLE line.
    pub banner: Vec<String>,
    stderr_path: PathBuf,
}

/// `BLE on <adapter> as <service name> (service <uuid>)` → (adapter, name, uuid).
pub fn parse_ble_banner(line: &str) -> Option<(String, String, String)> {
    let rest = line.trim().strip_prefix("BLE on ")?;
    let (adapter, rest) = rest.split_once(" as ")?;
    let (name, rest) = rest.rsplit_once(" (service ")?;
    let uuid = rest.strip_suffix(')')?;
    Some((adapter.to_owned(), name.to_owned(), uuid.to_owned()))
}

impl BleSim {
    /// Start the device on the bus at `bus` with `--transport ble`, JSON logs ([`RUST_LOG`]) and `args`,
    /// and wait for its BLE banner line (the device is registered and advertising by then).
    pub fn start(bus: &str, args: &[&str]) -> Self {
        let stderr_path = std::env::temp_dir().join(format!(
            "provlab-ble-sim-{}-{}.log",
            std::process::id(),
            unique()
        ));
        let log = std::fs::File::create(&stderr_path).expect("log file");
        let mut child = Command::new(sim_binary())
            .args(["--transport", "ble", "--log-format", "json"])
            .args(args)
            .env(BUS_VAR, bus)
            .env("RUST_LOG", super::rust_log(RUST_LOG))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn sim-device");
        let lines = spawn_line_reader(child.stdout.take().expect("stdout"));
        let mut banner = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        let found = loop {
            match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    let parsed = parse_ble_banner(&line);
                    banner.push(line);
                    if let Some(p) = parsed {
                        break Some(p);
                    }
                }
                Err(_) => break None,
            }
        };
        let Some((adapter, name, service_uuid)) = found else {
            let _ = child.kill();
            let status = child.wait().ok();
            let logs = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            let _ = std::fs::remove_file(&stderr_path);
            panic!(
                "sim-device printed no `BLE on ...` line within 20 s (exit {status:?}).\nstdout: \
                 {banner:?}\nstderr: {logs}"
            );
        };
        // Keep draining stdout so the device never blocks on a full pipe.
        thread::spawn(move || while lines.recv().is_ok() {});
        Self {
            child,
            adapter,
            name,
            service_uuid,
            banner,
            stderr_path,
        }
    }

    /// The log lines written so far (JSON, one per line).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The JSON log lines so far, parsed.
    pub fn log_records(&self) -> Vec<serde_json::Value> {
        self.logs()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Device events so far, from the JSON log (each line's fields: `event`, `kind`, `ssid`, ...).
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.log_records()
            .into_iter()
            .filter(|v| v["target"] == "sim_device::event")
            .collect()
    }

    /// The `offset` of every characteristic read the BLE transport served, in order.
    pub fn read_offsets(&self) -> Vec<u64> {
        self.log_records()
            .iter()
            .filter(|v| {
                v["message"] == "read"
                    && v["target"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("sim_device::transport::ble"))
            })
            .filter_map(|v| v["offset"].as_u64())
            .collect()
    }

    /// Whether the device process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for BleSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        super::keep(
            "sim-device-ble",
            &format!("{}\n{}", self.banner.join("\n"), self.logs()),
        );
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}

/// Run esp_prov (through the shim) with `--transport ble` and `args` on the bus at `bus`, killing it after
/// `timeout`. No stdin: a run that would prompt fails instead of hanging.
pub fn esp_prov_ble(bus: &str, args: &[&str], timeout: Duration) -> EspProvRun {
    let mut child = Command::new(esp_prov_python())
        .arg("-u")
        .arg(esp_prov_shim())
        .args(["--transport", "ble"])
        .args(args)
        .env(BUS_VAR, bus)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run esp_prov");
    let collect = |mut r: Box<dyn Read + Send>| {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
        });
        rx
    };
    let out = collect(Box::new(child.stdout.take().expect("stdout")));
    let err = collect(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait().expect("wait for esp_prov") {
            Some(st) => break st,
            None if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().expect("wait for esp_prov");
            }
            None => thread::sleep(Duration::from_millis(20)),
        }
    };
    let text =
        |rx: mpsc::Receiver<String>| rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
    let run = EspProvRun {
        status: status.code(),
        stdout: text(out),
        stderr: text(err),
        timed_out,
    };
    super::keep("esp_prov-ble", &format!("{}\n{}", run.stdout, run.stderr));
    run
}

impl super::Events for BleSim {
    fn events(&self) -> Vec<serde_json::Value> {
        Self::events(self)
    }

    fn context(&self) -> String {
        format!("\nlog:\n{}", self.logs())
    }
}
