//! `sim-device --transport ble` driven by a bluer central, both on a private BlueZ loopback.
//!
//! Each case starts its own `bluez_loopback::Testbed` (a private dbus-daemon and a fake bluetoothd), the
//! device binary and a central, and both children get the bus through `DBUS_SYSTEM_BUS_ADDRESS`: bluer has
//! no other way in, and setting the variable in this (multi-threaded) process would be `unsafe`. The
//! central is this very test binary re-executed with `--central` ([`central`]): it reads one command per
//! line on stdin and answers `ok [...]` or `err <why>` on stdout. The device advertises on `hci0`, the
//! central uses `hci1`, as two real machines would.
//!
//! `harness = false`: `main` runs the cases in parallel threads; arguments that do not start with `-`
//! select cases by substring.

#[path = "ble/central.rs"]
mod central;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use aes::Aes256;
use bluez_loopback::{Options, Testbed};
use ctr::cipher::{KeyIvInit, StreamCipher};
use proto::protocomm::{
    sec1_payload, session_data, Sec1Payload, SessionCmd0, SessionCmd1, SessionData,
};
use proto::wifi_prov::{wi_fi_config_payload::Payload, CmdGetStatus, WiFiConfigPayload};
use proto::Message;
use sha2::{Digest, Sha256};

const BUS_VAR: &str = "DBUS_SYSTEM_BUS_ADDRESS";
const POP: &str = "abcd1234";

type Case = fn() -> Result<(), String>;

const CASES: &[(&str, Case)] = &[
    ("gatt_database_and_proto_ver", gatt_database_and_proto_ver),
    ("sec1_get_status_at_mtu_23", sec1_get_status_at_mtu_23),
    (
        "bluedroid_error_drops_the_link",
        bluedroid_error_drops_the_link,
    ),
    ("nimble_keeps_the_link", nimble_keeps_the_link),
    (
        "reboot_drops_the_link_and_reregisters",
        reboot_drops_the_link_and_reregisters,
    ),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--central") {
        return central::main();
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    // `--exact` (as cargo-nextest runs one test): the whole name; otherwise a substring, as libtest.
    let exact = args.iter().any(|a| a == "--exact");
    let wanted = |name: &str, f: &str| if exact { name == f } else { name.contains(f) };
    // libtest's listing protocol, which cargo-nextest uses: this harness has no ignored tests.
    if args.iter().any(|a| a == "--list") && args.iter().any(|a| a == "--ignored") {
        return Default::default();
    }
    if args.iter().any(|a| a == "--list") {
        for (name, _) in CASES {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let selected: Vec<_> = CASES
        .iter()
        .filter(|(n, _)| filters.is_empty() || filters.iter().any(|f| wanted(n, f)))
        .collect();
    println!("\nrunning {} tests", selected.len());
    let started = Instant::now();
    let handles: Vec<_> = selected
        .iter()
        .map(|&&(name, case)| (name, thread::spawn(case)))
        .collect();
    let mut failed = Vec::new();
    for (name, h) in handles {
        let outcome = h.join().unwrap_or_else(|_| Err("panicked".to_owned()));
        match outcome {
            Ok(()) => println!("test {name} ... ok"),
            Err(e) => {
                println!("test {name} ... FAILED\n  {e}");
                failed.push(name);
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        selected.len() - failed.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

// ---- processes ------------------------------------------------------------------------------------------

fn testbed(mtu: u16) -> Result<Testbed, String> {
    Testbed::start(Options {
        mtu,
        ..Options::default()
    })
    .map_err(|e| format!("BlueZ loopback: {e}"))
}

fn line_reader(out: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// `sim-device --transport ble`, killed on drop.
struct Device {
    child: Child,
    name: String,
    /// The control channel, when the banner announced one.
    control: Option<String>,
}

impl Device {
    fn start(tb: &Testbed, args: &[&str]) -> Result<Self, String> {
        let no_control = ["--no-control"];
        let mut child = Command::new(env!("CARGO_BIN_EXE_sim-device"))
            .args(["--transport", "ble", "--ble-adapter", "hci0"])
            .args(if args.contains(&"--control") {
                &[][..]
            } else {
                &no_control[..]
            })
            .args(args)
            .env(BUS_VAR, tb.bus_address())
            // Quiet unless asked: the cases run in parallel on one terminal.
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn sim-device: {e}"))?;
        let lines = line_reader(child.stdout.take().ok_or("no stdout")?);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut control = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines.recv_timeout(left) else {
                let _ = child.kill();
                return Err("sim-device printed no `BLE on ...` banner".into());
            };
            if let Some(addr) = line.strip_prefix("Control on http://") {
                control = Some(addr.trim().to_owned());
            }
            // `BLE on hci0 as PROV_A1B2C3 (service 021a9004-...)`
            if let Some(rest) = line.strip_prefix("BLE on hci0 as ") {
                let name = rest.split(" (service ").next().unwrap_or_default();
                thread::spawn(move || while lines.recv().is_ok() {});
                return Ok(Self {
                    child,
                    name: name.to_owned(),
                    control,
                });
            }
        }
    }
}

impl Device {
    /// `POST <path>` on the control channel; the response's status line.
    fn control_post(&self, path: &str) -> Result<String, String> {
        use std::io::Read;
        let addr = self.control.as_deref().ok_or("no control channel")?;
        let mut s = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut raw = String::new();
        s.read_to_string(&mut raw).map_err(|e| e.to_string())?;
        Ok(raw.lines().next().unwrap_or_default().to_owned())
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This binary in `--central` mode, killed on drop.
struct Central {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Central {
    fn start(tb: &Testbed) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(["--central", "hci1"])
            .env(BUS_VAR, tb.bus_address())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn the central: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let lines = line_reader(child.stdout.take().ok_or("no stdout")?);
        Ok(Self {
            child,
            stdin,
            lines,
        })
    }

    /// One command; `Ok(rest of the "ok" line)` or `Err(why)`.
    fn cmd(&mut self, line: &str) -> Result<String, String> {
        writeln!(self.stdin, "{line}").map_err(|e| format!("central gone: {e}"))?;
        let answer = self
            .lines
            .recv_timeout(Duration::from_secs(15))
            .map_err(|_| format!("central gave no answer to `{line}`"))?;
        match answer.split_once(' ').unwrap_or((answer.as_str(), "")) {
            ("ok", rest) => Ok(rest.to_owned()),
            (_, why) => Err(why.to_owned()),
        }
    }

    /// A command that must succeed.
    fn ok(&mut self, line: &str) -> Result<String, String> {
        self.cmd(line).map_err(|e| format!("`{line}` failed: {e}"))
    }

    /// Write `body` to `ep`, then read the stored response back.
    fn exchange(&mut self, ep: &str, body: &[u8]) -> Result<Vec<u8>, String> {
        self.ok(&format!("write {ep} {}", hex::encode(body)))?;
        let out = self.ok(&format!("read {ep}"))?;
        hex::decode(out.trim()).map_err(|e| e.to_string())
    }
}

impl Drop for Central {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

// ---- protocol -------------------------------------------------------------------------------------------

fn sec1_message(msg: i32, payload: sec1_payload::Payload) -> Vec<u8> {
    SessionData {
        sec_ver: 1,
        proto: Some(session_data::Proto::Sec1(Sec1Payload {
            msg,
            payload: Some(payload),
        })),
    }
    .encode_to_vec()
}

fn sec1_reply(bytes: &[u8]) -> Result<sec1_payload::Payload, String> {
    match SessionData::decode(bytes).map_err(|e| e.to_string())?.proto {
        Some(session_data::Proto::Sec1(Sec1Payload {
            payload: Some(p), ..
        })) => Ok(p),
        other => Err(format!("not a Security 1 reply: {other:?}")),
    }
}

/// The Security 1 handshake over BLE; returns the session's AES-CTR cipher.
fn sec1_handshake(c: &mut Central) -> Result<ctr::Ctr128BE<Aes256>, String> {
    let secret = x25519_dalek::StaticSecret::from([0x42; 32]);
    let client_pub = x25519_dalek::PublicKey::from(&secret).to_bytes();
    let cmd0 = sec1_message(
        0,
        sec1_payload::Payload::Sc0(SessionCmd0 {
            client_pubkey: client_pub.to_vec(),
        }),
    );
    let sec1_payload::Payload::Sr0(sr0) = sec1_reply(&c.exchange("prov-session", &cmd0)?)? else {
        return Err("Response0 expected".into());
    };
    let device_pub: [u8; 32] = sr0
        .device_pubkey
        .as_slice()
        .try_into()
        .map_err(|_| "device key")?;
    let iv: [u8; 16] = sr0
        .device_random
        .as_slice()
        .try_into()
        .map_err(|_| "device random")?;
    let mut key = *secret
        .diffie_hellman(&x25519_dalek::PublicKey::from(device_pub))
        .as_bytes();
    for (k, d) in key.iter_mut().zip(Sha256::digest(POP.as_bytes())) {
        *k ^= d;
    }
    let mut cipher = ctr::Ctr128BE::<Aes256>::new(&key.into(), &iv.into());
    let mut verify = device_pub;
    cipher.apply_keystream(&mut verify);
    let cmd1 = sec1_message(
        2,
        sec1_payload::Payload::Sc1(SessionCmd1 {
            client_verify_data: verify.to_vec(),
        }),
    );
    let sec1_payload::Payload::Sr1(sr1) = sec1_reply(&c.exchange("prov-session", &cmd1)?)? else {
        return Err("Response1 expected".into());
    };
    let mut check_data = sr1.device_verify_data;
    cipher.apply_keystream(&mut check_data);
    check(check_data == client_pub, || {
        "device verify data does not decrypt to our key".into()
    })?;
    Ok(cipher)
}

// ---- cases ----------------------------------------------------------------------------------------------

/// The GATT database of spec §4.2.2 and `proto-ver` over the default MTU.
fn gatt_database_and_proto_ver() -> Result<(), String> {
    let tb = testbed(517)?;
    let dev = Device::start(
        &tb,
        &["--security", "1", "--ble-manufacturer-data", "e502c0ffee"],
    )?;
    let mut c = Central::start(&tb)?;
    let endpoints = c.ok(&format!("connect {}", dev.name))?;
    let adv = c.ok("adv")?;
    check(
        adv == "uuids=021a9004-0382-4aea-bff4-6b3f1c5adfb4 mfg=02e5:c0ffee",
        || format!("advertised: {adv}"),
    )?;
    let flags = c.ok("flags prov-session")?;
    check(
        flags == "read=true write=true write_without_response=false notify=false indicate=false",
        || format!("characteristic flags: {flags}"),
    )?;
    for (ep, uuid) in [
        ("prov-ctrl", "021aff4f-0382-4aea-bff4-6b3f1c5adfb4"),
        ("prov-scan", "021aff50-0382-4aea-bff4-6b3f1c5adfb4"),
        ("prov-session", "021aff51-0382-4aea-bff4-6b3f1c5adfb4"),
        ("prov-config", "021aff52-0382-4aea-bff4-6b3f1c5adfb4"),
        ("proto-ver", "021aff53-0382-4aea-bff4-6b3f1c5adfb4"),
        ("custom-data", "021aff54-0382-4aea-bff4-6b3f1c5adfb4"),
    ] {
        check(endpoints.contains(&format!("{ep}={uuid}")), || {
            format!("{ep} should be {uuid}: {endpoints}")
        })?;
    }
    // A read before any write is empty.
    check(c.ok("read proto-ver")?.is_empty(), || {
        "read before write not empty".into()
    })?;
    let ver = c.exchange("proto-ver", b"---")?;
    let json: serde_json::Value =
        serde_json::from_slice(&ver).map_err(|e| format!("proto-ver is not JSON: {e}"))?;
    check(json["prov"]["sec_ver"] == 1, || {
        format!("proto-ver: {json}")
    })?;
    // The same reply as the core gives for this configuration.
    let mut core = sim_device::Device::new(
        sim_device::DeviceConfig {
            security: sim_device::Security::Sec1 {
                pop: Some(sim_device::Secret(POP.as_bytes().to_vec())),
            },
            ..Default::default()
        },
        Box::new(sim_device::SeededRng::new(b"ble")),
        Instant::now(),
    );
    let want = match core.handle("proto-ver", 0, b"---", Instant::now()) {
        Ok(sim_device::Reply::Ready(b)) => b,
        other => return Err(format!("core proto-ver: {other:?}")),
    };
    check(ver == want, || {
        format!(
            "proto-ver over BLE differs from the core's: {} vs {}",
            String::from_utf8_lossy(&ver),
            String::from_utf8_lossy(&want)
        )
    })?;
    // Offset reads walk the value; beyond the end is an error.
    let tail = c.ok(&format!("readat proto-ver {}", ver.len() - 5))?;
    check(
        hex::decode(tail.trim()).ok() == Some(ver[ver.len() - 5..].to_vec()),
        || format!("read at offset: {tail}"),
    )?;
    check(
        c.cmd(&format!("readat proto-ver {}", ver.len() + 1))
            .is_err(),
        || "a read beyond the end succeeded".into(),
    )?;
    // 0x2901 is read-only.
    check(c.cmd("write-desc proto-ver 41").is_err(), || {
        "the user description accepted a write".into()
    })?;
    Ok(())
}

/// A full Security 1 session and an encrypted GetStatus, with every reply longer than MTU − 1 at MTU 23:
/// only offset reads give the central whole values.
fn sec1_get_status_at_mtu_23() -> Result<(), String> {
    let tb = testbed(23)?;
    let dev = Device::start(&tb, &["--security", "1", "--pop", POP])?;
    let mut c = Central::start(&tb)?;
    c.ok(&format!("connect {}", dev.name))?;
    let mut cipher = sec1_handshake(&mut c)?;
    let mut req = WiFiConfigPayload {
        msg: 0,
        payload: Some(Payload::CmdGetStatus(CmdGetStatus {})),
    }
    .encode_to_vec();
    cipher.apply_keystream(&mut req);
    let mut resp = c.exchange("prov-config", &req)?;
    cipher.apply_keystream(&mut resp);
    let resp = WiFiConfigPayload::decode(resp.as_slice()).map_err(|e| format!("GetStatus: {e}"))?;
    match resp.payload {
        Some(Payload::RespGetStatus(s)) => check(s.status == 0, || format!("status {s:?}")),
        other => Err(format!("GetStatus answered {other:?}")),
    }
}

/// Bluedroid: a protocomm error is an ATT error, then the device drops the link; the next connection starts
/// a fresh session with no stored values.
fn bluedroid_error_drops_the_link() -> Result<(), String> {
    let tb = testbed(517)?;
    let dev = Device::start(&tb, &["--security", "1", "--pop", POP])?;
    let mut c = Central::start(&tb)?;
    c.ok(&format!("connect {}", dev.name))?;
    check(c.cmd("write proto-ver").is_err(), || {
        "Bluedroid accepted an empty write".into()
    })?;
    check(
        c.cmd(&format!("write proto-ver {}", "00".repeat(482)))
            .is_err(),
        || "Bluedroid accepted a 482-byte write".into(),
    )?;
    c.ok("connected true")?;
    c.exchange("proto-ver", b"v")?;
    check(c.cmd("write prov-session 0a0b0c").is_err(), || {
        "bad session data was accepted".into()
    })?;
    c.ok("connected false")?;
    c.ok(&format!("connect {}", dev.name))?;
    check(c.ok("read proto-ver")?.is_empty(), || {
        "stored value survived the disconnect".into()
    })?;
    sec1_handshake(&mut c).map(|_| ())
}

/// NimBLE: an empty write is accepted and ignored; a protocomm error keeps the link.
fn nimble_keeps_the_link() -> Result<(), String> {
    let tb = testbed(517)?;
    let dev = Device::start(
        &tb,
        &["--security", "1", "--pop", POP, "--ble-stack", "nimble"],
    )?;
    let mut c = Central::start(&tb)?;
    c.ok(&format!("connect {}", dev.name))?;
    let ver = c.exchange("proto-ver", b"v")?;
    c.ok("write proto-ver")?;
    check(c.ok("read proto-ver")?.trim() == hex::encode(&ver), || {
        "the empty write changed the stored value".into()
    })?;
    check(
        c.cmd(&format!("write proto-ver {}", "00".repeat(513)))
            .is_err(),
        || "NimBLE accepted a 513-byte write".into(),
    )?;
    check(c.cmd("write prov-session 0a0b0c").is_err(), || {
        "bad session data was accepted".into()
    })?;
    c.ok("connected true")?;
    sec1_handshake(&mut c).map(|_| ())
}

/// A reboot ends the link (the chip's stack goes down with it); the service comes back under the new boot
/// and a new connection starts a new session.
fn reboot_drops_the_link_and_reregisters() -> Result<(), String> {
    let tb = testbed(517)?;
    let dev = Device::start(
        &tb,
        &["--security", "1", "--pop", POP, "--control", "127.0.0.1:0"],
    )?;
    let mut c = Central::start(&tb)?;
    c.ok(&format!("connect {}", dev.name))?;
    sec1_handshake(&mut c)?;
    let status = dev.control_post("/reboot")?;
    check(status.contains(" 200 "), || format!("reboot: {status}"))?;
    c.ok("connected false")?;
    c.ok(&format!("connect {}", dev.name))?;
    sec1_handshake(&mut c).map(|_| ())
}
