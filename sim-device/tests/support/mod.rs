//! Process-level test support: run the real `sim-device` binary and Espressif's esp_prov.
//!
//! esp_prov lives in a Python virtual environment that `cargo xtask test` (or `cargo xtask esp-prov-setup`)
//! creates at `target/esp-prov-venv`. A test that needs it and does not find it fails with the command to
//! run: interop tests are never skipped silently.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sim-device has a parent directory")
        .to_path_buf()
}

/// The venv's Python with esp_prov importable, or a panic that says how to get it.
pub fn esp_prov_python() -> PathBuf {
    let py = std::env::var_os("PROVLAB_ESP_PROV_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/esp-prov-venv/bin/python"));
    assert!(
        py.exists(),
        "esp_prov is not installed ({} missing). Run `cargo xtask esp-prov-setup` once, or run the whole \
         suite with `cargo xtask test`, which installs it.",
        py.display()
    );
    py
}

/// The shim that runs esp_prov with its two known client defects fixed (see the file's docstring).
pub fn esp_prov_shim() -> PathBuf {
    workspace().join("tools/esp_prov_shim.py")
}

/// A running `sim-device` process, killed on drop.
pub struct Sim {
    pub child: Child,
    /// The SoftAP HTTP address, when the transport is softap.
    pub http: Option<SocketAddr>,
    /// The control channel address, unless `--no-control`.
    pub control: Option<SocketAddr>,
    /// Everything printed on stdout before the addresses were known.
    pub banner: Vec<String>,
    /// Later stdout lines.
    pub stdout: Option<mpsc::Receiver<String>>,
    /// Captured stderr (logs), read on demand.
    stderr_path: PathBuf,
}

/// Path of the built `sim-device` binary.
/// `PROVLAB_KEEP_LOGS=DIR` (the secret scan's verbose run, `cargo xtask reliability`): devices log at
/// trace level and every device log, banner and esp_prov output is kept in DIR instead of deleted.
pub fn kept_logs() -> Option<PathBuf> {
    std::env::var_os("PROVLAB_KEEP_LOGS").map(PathBuf::from)
}

/// The device's `RUST_LOG`: `default`, or everything while logs are kept for a secret scan.
pub fn rust_log(default: &str) -> String {
    if kept_logs().is_some() {
        "trace".to_owned()
    } else {
        default.to_owned()
    }
}

/// Keeps `text` as `<kind>-<pid>-<n>.log` when logs are kept.
pub fn keep(kind: &str, text: &str) {
    if let Some(dir) = kept_logs() {
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("{kind}-{}-{}.log", std::process::id(), unique()));
        let _ = std::fs::write(path, text);
    }
}

pub fn sim_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sim-device"))
}

impl Sim {
    /// Start `sim-device` with `args` plus free ports for HTTP and control (unless `args` set them) and
    /// JSON logs, and wait until it prints its addresses.
    pub fn start(args: &[&str]) -> Self {
        Self::start_with(Command::new(sim_binary()), args)
    }

    /// As [`Sim::start`], with a prepared command (e.g. `ip netns exec NS sim-device`).
    pub fn start_with(mut cmd: Command, args: &[&str]) -> Self {
        let has = |flag: &str| args.contains(&flag);
        if !has("--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        if !has("--control") && !has("--no-control") {
            cmd.args(["--control", "127.0.0.1:0"]);
        }
        cmd.args(["--log-format", "json"]).args(args);
        let stderr_path = std::env::temp_dir().join(format!(
            "provlab-sim-{}-{}.log",
            std::process::id(),
            unique()
        ));
        let log = std::fs::File::create(&stderr_path).expect("log file");
        cmd.stdout(Stdio::piped())
            .stderr(log)
            .stdin(Stdio::null())
            .env("RUST_LOG", rust_log("debug"));
        let mut child = cmd.spawn().expect("spawn sim-device");
        let stdout = child.stdout.take().expect("stdout");
        let lines = spawn_line_reader(stdout);
        let mut sim = Self {
            child,
            http: None,
            control: None,
            banner: Vec::new(),
            stdout: None,
            stderr_path,
        };
        let want_control = !has("--no-control");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(a) = line.strip_prefix("SoftAP HTTP on http://") {
                        sim.http = a.trim().parse().ok();
                    }
                    if let Some(a) = line.strip_prefix("Control on http://") {
                        sim.control = a.trim().parse().ok();
                    }
                    sim.banner.push(line);
                    if sim.http.is_some() && (sim.control.is_some() || !want_control) {
                        break;
                    }
                }
                Err(_) => panic!(
                    "sim-device did not print its addresses within 20 s.\nstdout: {:?}\nstderr: {}",
                    sim.banner,
                    sim.logs()
                ),
            }
        }
        sim.stdout = Some(lines);
        sim
    }

    /// The HTTP address (panics if the transport is not softap).
    pub fn addr(&self) -> SocketAddr {
        self.http.expect("softap transport")
    }

    /// The log lines written so far (JSON, one per line).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// A control-channel request; returns (status, body).
    pub fn control(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        http_request(self.control.expect("control channel"), method, path, body)
    }

    /// Device events so far (`GET /events`), as JSON values.
    pub fn events(&self) -> Vec<serde_json::Value> {
        let (status, body) = self.control("GET", "/events", None);
        assert_eq!(status, 200, "GET /events: {body}");
        serde_json::from_str(&body).expect("events JSON")
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        keep(
            "sim-device",
            &format!("{}\n{}", self.banner.join("\n"), self.logs()),
        );
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn spawn_line_reader(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A minimal HTTP/1.1 client for the control channel (one request per connection).
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect control");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("send");
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Result of one esp_prov run.
#[derive(Debug)]
pub struct EspProvRun {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl EspProvRun {
    /// Both streams, for assertion messages.
    pub fn all(&self) -> String {
        format!(
            "exit {:?}{}\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            if self.timed_out { " (timed out)" } else { "" },
            self.stdout,
            self.stderr
        )
    }
}

/// Run esp_prov (through the shim) with `args`, feeding `stdin`, killing it after `timeout`.
pub fn esp_prov(args: &[&str], stdin: &str, timeout: Duration) -> EspProvRun {
    use std::io::Write;
    let mut child = Command::new(esp_prov_python())
        .arg("-u")
        .arg(esp_prov_shim())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run esp_prov");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.as_bytes());
    }
    let pid = child.id();
    let (tx, rx) = mpsc::channel::<()>();
    let killer = thread::spawn(move || {
        if rx.recv_timeout(timeout).is_err() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            return true;
        }
        false
    });
    let out: Output = child.wait_with_output().expect("esp_prov output");
    let _ = tx.send(());
    let timed_out = killer.join().unwrap_or(false);
    keep(
        "esp_prov",
        &format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    );
    EspProvRun {
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        timed_out,
    }
}

pub mod ble;
pub mod wire;

/// esp_prov's arguments for the simulator's default Security 2 credentials.
pub const ESP_PROV_SEC2: [&str; 6] = [
    "--sec_ver",
    "2",
    "--sec2_username",
    "wifiprov",
    "--sec2_pwd",
    "abcd1234",
];

/// A running device whose events the test can read (over the control channel or from its log).
pub trait Events {
    /// Device events so far, as JSON values.
    fn events(&self) -> Vec<serde_json::Value>;

    /// Extra context for a failure message (e.g. the device's log).
    fn context(&self) -> String {
        String::new()
    }

    /// The `event` names of all events so far.
    fn event_names(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter_map(|e| e["event"].as_str().map(str::to_owned))
            .collect()
    }

    /// Wait until an event named `name` was recorded.
    fn wait_event(&self, name: &str, within: Duration) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            if let Some(e) = self.events().into_iter().find(|e| e["event"] == name) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no {name} event within {within:?}; events: {:?}{}",
                self.event_names(),
                self.context()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Events for Sim {
    fn events(&self) -> Vec<serde_json::Value> {
        Self::events(self)
    }
}

/// A world file with the golden vectors' access points (`OracleNet-Home` / `correct horse battery`, ...)
/// and DHCP address, so recorded plaintext can be compared with ESP-IDF's answers byte for byte.
pub fn vector_world() -> PathBuf {
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(workspace().join("vectors/esp-idf/wifi_auth_error_then_reset.json"))
            .expect("golden vector"),
    )
    .expect("vector JSON");
    let w = &v["inputs"]["fake_wifi"];
    let mut toml = format!("ip = \"{}\"\n", w["ip_on_connect"].as_str().expect("ip"));
    for ap in w["aps"].as_array().expect("aps") {
        let s = |k: &str| serde_json::to_string(&ap[k]).expect("json string");
        toml.push_str(&format!(
            "[[ap]]\nssid = {}\nbssid = {}\nchannel = {}\nrssi = {}\nauth = {}\npassword = {}\n",
            s("ssid"),
            s("bssid"),
            ap["channel"],
            ap["rssi"],
            s("auth"),
            s("password"),
        ));
        if ap["hidden"].as_bool() == Some(true) {
            toml.push_str("hidden = true\n");
        }
    }
    let path =
        std::env::temp_dir().join(format!("provlab-vector-world-{}.toml", std::process::id()));
    std::fs::write(&path, toml).expect("write world");
    path
}
