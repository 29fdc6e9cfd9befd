//! The console transport (spec §4.3.1): the line protocol on an in-memory stream against the device task,
//! a full Security 1 provisioning by Espressif's esp_prov (console mode) bridged to the `sim-device`
//! binary's stdin/stdout, and the pseudo-terminal console of `--console-pty`.
//!
//! Every wait has a deadline, so a hang fails the test instead of blocking the suite.

mod support;

#[path = "console/client.rs"]
mod client;

use client::{take_prompt, text, Client};

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use prost::Message;
use proto::protocomm::{
    sec1_payload, session_data, Sec1MsgType, Sec1Payload, SessionCmd0, SessionData,
};
use sim_device::runtime::ControlOp;
use sim_device::transport::console::LINE_BUF_SIZE;
use sim_device::{CustomEndpoint, Device, DeviceConfig, Reply, Secret, Security, SeededRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(5);
const RESPONSE0: Sec1MsgType = Sec1MsgType::SessionResponse0;

// ---- The line protocol on an in-memory stream ----

fn config(security: Security) -> DeviceConfig {
    DeviceConfig {
        security,
        custom_endpoints: vec![CustomEndpoint::echo("custom-data")],
        ..DeviceConfig::default()
    }
}

/// The `proto-ver` reply of a device with `cfg`, from the sans-IO core.
fn version_json(cfg: DeviceConfig) -> Vec<u8> {
    let now = std::time::Instant::now();
    let mut dev = Device::new(cfg, Box::new(SeededRng::new(b"ver")), now);
    match dev.handle("proto-ver", 0, b"none", now) {
        Ok(Reply::Ready(json)) => json,
        other => panic!("proto-ver failed: {other:?}"),
    }
}

#[tokio::test]
async fn prompt_echo_proto_ver_and_help() {
    let mut c = Client::start(Security::Sec0).await;
    // The very first bytes are exactly the 4-byte prompt.
    let mut first = [0u8; 4];
    let read = tokio::time::timeout(WAIT, c.io.read_exact(&mut first)).await;
    assert!(matches!(read, Ok(Ok(_))), "{read:?}");
    assert_eq!(&first, b"\n>> ");

    let json = version_json(config(Security::Sec0));
    assert!(serde_json::from_slice::<serde_json::Value>(&json).is_ok());
    c.check("proto-ver 0 6e6f6e65", Some(&json)).await;
    // Upper-case hex is hex too; the reply is lower-case.
    c.check("custom-data 0 CAFEbabe", Some(b"\xca\xfe\xba\xbe"))
        .await;
    // `help` lists the endpoints, one per line.
    let endpoints = c.handle.status().borrow().endpoints.clone();
    assert!(endpoints.iter().any(|e| e.name == "prov-config"));
    let want: String = endpoints.iter().map(|e| e.name.clone() + "\r\n").collect();
    assert_eq!(text(&c.line("help").await), format!("help\r\n{want}"));
}

#[tokio::test]
async fn short_lines_and_unknown_endpoints_print_only_a_prompt() {
    let mut c = Client::start(Security::Sec0).await;
    assert!(c.until_prompt().await.is_empty());
    for line in [
        "proto-ver 0",
        "proto-ver",
        "",
        "   ",
        "nope 0 6e6f6e65",
        "Proto-ver 0 00",
    ] {
        c.check(line, None).await;
    }
    // A device error (an empty echo reply is ESP_ERR_NO_MEM) looks the same.
    c.check("custom-data 0 \"\"", None).await;
    // The console still works afterwards.
    c.check("custom-data 0 01", Some(&[1])).await;
}

#[tokio::test]
async fn lf_does_not_end_a_line() {
    let mut c = Client::start(Security::Sec0).await;
    c.until_prompt().await;
    c.send(b"custom-data 0 0102\n").await;
    // Echoed, but no reply and no prompt: the line is still open.
    let echoed = c.quiet(Duration::from_millis(300)).await;
    assert_eq!(text(&echoed), "custom-data 0 0102\n");
    c.send(b"\r").await;
    assert_eq!(text(&c.until_prompt().await), "\r\n\r\n0102\r\n");

    // CRLF-terminated lines work: the LF leads the next line and is read as a space there.
    c.send(b"custom-data 0 03\r\ncustom-data 0 04\r\n").await;
    let out = text(&c.until_prompt().await);
    assert_eq!(out, "custom-data 0 03\r\n\r\n03\r\n");
    let out = text(&c.until_prompt().await);
    assert_eq!(out, "\ncustom-data 0 04\r\n\r\n04\r\n");
    assert_eq!(c.quiet(Duration::from_millis(200)).await, b"\n");
}

#[tokio::test]
async fn line_buffer_holds_256_bytes_and_runs_the_first_255() {
    let mut c = Client::start(Security::Sec0).await;
    c.until_prompt().await;
    // 256 bytes without a CR: the line runs when the buffer is full; esp_console_run() sees 255 bytes,
    // so the hex argument has 241 digits and the odd last one is ignored: 120 payload bytes.
    let prefix = "custom-data 0 ";
    let digits: String = (0..LINE_BUF_SIZE - prefix.len())
        .map(|i| char::from(b"0123456789abcdef"[i % 16]))
        .collect();
    let line = format!("{prefix}{digits}");
    assert_eq!(line.len(), LINE_BUF_SIZE);
    let payload = hex::decode(&digits[..240]).expect("hex");
    // The next line follows in the same write: it starts after the prompt.
    c.send(format!("{line}custom-data 0 ff\r").as_bytes()).await;
    let out = text(&c.until_prompt().await);
    assert_eq!(out, format!("{line}\r\n{}\r\n", hex::encode(&payload)));
    let out = text(&c.until_prompt().await);
    assert_eq!(out, "custom-data 0 ff\r\n\r\nff\r\n");

    // 255 characters and the CR fill the buffer exactly: an ordinary line.
    c.check(&line[..LINE_BUF_SIZE - 1], Some(&payload)).await;
}

#[tokio::test]
async fn payload_hex_rules() {
    let mut c = Client::start(Security::Sec0).await;
    c.until_prompt().await;
    // An odd trailing digit is ignored.
    c.check("custom-data 0 abc", Some(&[0xab])).await;
    // Invalid hex digits: the request is dropped (ESP-IDF would send undefined bytes).
    for hex in ["zz", "0g", "0x41", "+1", "4 1"] {
        c.check(&format!("custom-data 0 \"{hex}\""), None).await;
    }
    // Extra arguments are ignored; quoting and escapes follow esp_console_split_argv.
    c.check("custom-data 0 41 extra", Some(b"A")).await;
    c.check("\"custom-data\" 0 \"42\"", Some(b"B")).await;
    // An unknown escape drops the escaped character: this is "customdata", no endpoint.
    c.check("custom\\-data 0 43", None).await;
}

/// A Security 1 Command0, in hex.
fn sec1_cmd0() -> String {
    let secret = x25519_dalek::StaticSecret::from([0x5a; 32]);
    let client_pubkey = x25519_dalek::PublicKey::from(&secret).to_bytes().to_vec();
    let payload = Some(sec1_payload::Payload::Sc0(SessionCmd0 { client_pubkey }));
    let proto = Some(session_data::Proto::Sec1(Sec1Payload { msg: 0, payload }));
    hex::encode(SessionData { sec_ver: 1, proto }.encode_to_vec())
}

/// The Security 1 message type the console printed, if it printed a Security 1 message.
fn sec1_msg(out: &[u8]) -> Option<Sec1MsgType> {
    let bytes = hex::decode(text(out).split("\r\n").nth(2)?).ok()?;
    match SessionData::decode(bytes.as_slice()).ok()?.proto? {
        session_data::Proto::Sec1(p) => Sec1MsgType::try_from(p.msg).ok(),
        _ => None,
    }
}

#[tokio::test]
async fn a_new_session_id_opens_a_session() {
    let pop = Some(Secret(b"abcd1234".to_vec()));
    let mut c = Client::start(Security::Sec1 { pop }).await;
    c.until_prompt().await;
    assert_eq!(c.session().await, serde_json::Value::Null);
    let cmd0 = sec1_cmd0();

    let out = c.line(&format!("prov-session 5 {cmd0}")).await;
    assert_eq!(sec1_msg(&out), Some(RESPONSE0), "{}", text(&out));
    assert_eq!(c.session().await, 5);
    // A handshake on another id works only because the console opened that session first.
    let out = c.line(&format!("prov-session 6 {cmd0}")).await;
    assert_eq!(sec1_msg(&out), Some(RESPONSE0), "{}", text(&out));
    assert_eq!(c.session().await, 6);
    // Any endpoint opens the session (session id read like atoi: "7abc" is 7).
    assert!(!c.line("proto-ver 7abc 6e6f6e65").await.is_empty());
    assert_eq!(c.session().await, 7);
    // Lines that never reach the device do not touch the session.
    for line in ["nope 9 00", "proto-ver 10", "proto-ver 11 zz"] {
        c.check(line, None).await;
        assert_eq!(c.session().await, 7, "after {line:?}");
    }
    // A non-number is session 0.
    c.line("proto-ver x 6e6f6e65").await;
    assert_eq!(c.session().await, 0);

    // After a reboot the device has no session; the same id opens one again.
    c.line("proto-ver 7 6e6f6e65").await;
    c.handle.control(ControlOp::Reboot).await.expect("reboot");
    let mut status = c.handle.status();
    // (No `watch::Ref` may outlive the statement: it would block the device task.)
    let rebooted = tokio::time::timeout(WAIT, status.wait_for(|s| s.boot == 1))
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(rebooted, "boot 1 not seen in time");
    // The UART shows the ROM's reset banner, then a new prompt, as a chip's does.
    let banner = c.until_prompt().await;
    assert!(
        text(&banner).contains("rst:0xc (SW_CPU_RESET)"),
        "no reset banner after the reboot: {}",
        text(&banner)
    );
    assert_eq!(c.session().await, serde_json::Value::Null);
    let out = c.line(&format!("prov-session 7 {cmd0}")).await;
    assert_eq!(sec1_msg(&out), Some(RESPONSE0), "{}", text(&out));
    assert_eq!(c.session().await, 7);
}

#[tokio::test]
async fn serve_returns_at_end_of_input() {
    let mut c = Client::start(Security::Sec0).await;
    c.until_prompt().await;
    c.send(b"custom-data 0 01").await;
    // End of input (the reading side stays open): an unfinished line is dropped and serve returns Ok.
    c.io.shutdown().await.expect("shutdown");
    let r = tokio::time::timeout(WAIT, &mut c.task)
        .await
        .expect("serve ended in time");
    assert!(matches!(r, Ok(Ok(()))), "{r:?}");
    let echoed = c.quiet(Duration::from_millis(100)).await;
    assert_eq!(echoed, b"custom-data 0 01");
}

// ---- Processes: the binary's stdin/stdout console with esp_prov, and the pty console ----

/// A child process killed on drop.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Chunks read from `r` by a thread, until EOF.
fn chunks(mut r: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = r.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Wait for `child` to exit, until `deadline`.
fn wait_exit(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

/// `sim-device` with `args`, its stdin and stdout piped.
fn sim(args: &str, stderr: impl Into<Stdio>) -> Reap {
    let child = Command::new(support::sim_binary())
        .args(args.split(' '))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn sim-device");
    Reap(child)
}

/// The device console of a running binary, over its stdin/stdout.
struct DeviceConsole {
    stdin: ChildStdin,
    out: mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
}

impl DeviceConsole {
    fn until_prompt(&mut self, deadline: Instant) -> Result<Vec<u8>, String> {
        loop {
            if let Some(out) = take_prompt(&mut self.buf) {
                return Ok(out);
            }
            match self.out.recv_timeout(left(deadline)) {
                Ok(chunk) => self.buf.extend_from_slice(&chunk),
                Err(e) => return Err(format!("no prompt ({e}); got {:?}", text(&self.buf))),
            }
        }
    }

    /// One request; the reply's hex, or why there was none.
    fn request(&mut self, line: &str, deadline: Instant) -> Result<String, String> {
        let sent = self.stdin.write_all(format!("{line}\r").as_bytes());
        sent.and_then(|()| self.stdin.flush())
            .map_err(|e| format!("device stdin: {e}"))?;
        let out = text(&self.until_prompt(deadline)?);
        out.strip_prefix(&format!("{line}\r\n\r\n"))
            .and_then(|r| r.strip_suffix("\r\n"))
            .map(str::to_owned)
            .ok_or_else(|| format!("the device did not answer {line:?} (output {out:?})"))
    }
}

/// The next complete `Client->Device msg : <ep> <sid> <hex>` + input prompt in esp_prov's output.
fn next_request(out: &str, cursor: &mut usize) -> Option<String> {
    const MSG: &str = "Client->Device msg : ";
    const ASK: &str = "Enter device->client msg : ";
    let from = *cursor + out.get(*cursor..)?.find(MSG)? + MSG.len();
    let eol = from + out[from..].find('\n')?;
    let ask = eol + out[eol..].find(ASK)?;
    *cursor = ask + ASK.len();
    Some(out[from..eol].trim_end_matches('\r').to_owned())
}

#[test]
fn console_provisioning_end_to_end_with_esp_prov() {
    let deadline = Instant::now() + Duration::from_secs(60);
    let logs = std::env::temp_dir().join(format!("provlab-console-{}.log", std::process::id()));
    let log_file = std::fs::File::create(&logs).expect("log file");
    let args = "--transport console --security 1 --pop abcd1234 --no-control --log-format json";
    let mut sim = sim(args, log_file);
    let mut device = DeviceConsole {
        stdin: sim.0.stdin.take().expect("stdin"),
        out: chunks(sim.0.stdout.take().expect("stdout")),
        buf: Vec::new(),
    };
    let read_logs = || std::fs::read_to_string(&logs).unwrap_or_default();
    if let Err(e) = device.until_prompt(deadline) {
        panic!("{e}\nlogs:\n{}", read_logs());
    }

    let prov = Command::new(support::esp_prov_python())
        .arg("-u")
        .arg(support::esp_prov_shim())
        .args("--transport console --sec_ver 1 --pop abcd1234".split(' '))
        .args("--ssid myssid --passphrase mypassword".split(' '))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut prov = Reap(prov.expect("run esp_prov"));
    let mut prov_in = prov.0.stdin.take().expect("esp_prov stdin");
    let prov_out = chunks(prov.0.stdout.take().expect("esp_prov stdout"));
    let prov_err = chunks(prov.0.stderr.take().expect("esp_prov stderr"));

    // The bridge: esp_prov's requests to the device console, the device's replies back.
    let (mut said, mut cursor, mut exchanges, mut failure) = (String::new(), 0, 0, None);
    loop {
        if let Some(req) = next_request(&said, &mut cursor) {
            match device.request(&req, deadline) {
                Ok(hex) => {
                    exchanges += 1;
                    let _ = prov_in.write_all(format!("{hex}\n").as_bytes());
                    let _ = prov_in.flush();
                    continue;
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        match prov_out.recv_timeout(left(deadline)) {
            Ok(chunk) => said.push_str(&text(&chunk)),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                failure = Some("esp_prov did not finish within 60 s".into());
                break;
            }
        }
    }
    let status = failure
        .is_none()
        .then(|| wait_exit(&mut prov.0, deadline))
        .flatten();
    drop(prov);
    let errs: Vec<u8> = prov_err.try_iter().flatten().collect();
    let report = || {
        let (errs, logs) = (text(&errs), read_logs());
        format!(
            "failure: {failure:?}\nexit: {status:?}\n--- esp_prov stdout\n{said}\n--- esp_prov stderr\n\
             {errs}\n--- device logs\n{logs}"
        )
    };
    assert!(failure.is_none(), "{}", report());
    assert!(status.is_some_and(|s| s.success()), "{}", report());
    assert!(
        said.contains("==== Provisioning was successful ===="),
        "{}",
        report()
    );
    // Version check, Command0, Command1, SetConfig, ApplyConfig, GetStatus at least.
    assert!(exchanges >= 6, "{exchanges} exchanges\n{}", report());

    // The device itself reached success (its JSON event log).
    let success_logged = || read_logs().contains("\"event\":\"WIFI_PROV_CRED_SUCCESS\"");
    while !success_logged() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert!(success_logged(), "{}", report());

    // End of input ends the console, and the process exits cleanly.
    drop(device.stdin);
    let exit = wait_exit(&mut sim.0, deadline);
    assert!(
        exit.is_some_and(|s| s.success()),
        "exit {exit:?}\n{}",
        read_logs()
    );
    let _ = std::fs::remove_file(&logs);
}

/// One exchange as a serial tool does it: open the pty (O_NOCTTY: never our controlling terminal), write
/// `send`, read until `want` appears, close. Returns everything read.
fn pty_exchange(path: &str, send: &[u8], want: &str, deadline: Instant) -> String {
    use std::os::unix::fs::OpenOptionsExt;
    let mut port = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::fcntl::OFlag::O_NOCTTY.bits())
        .open(path)
        .expect("open the pty");
    let mut reader = port.try_clone().expect("clone the pty");
    let (tx, rx) = mpsc::channel();
    let want_owned = want.to_owned();
    // The reader owns its descriptor and ends once `want` is in, so the port is fully closed afterwards.
    thread::spawn(move || {
        let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
        while !text(&got).contains(&want_owned) {
            match reader.read(&mut buf) {
                Ok(n @ 1..) => got.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        let _ = tx.send(text(&got));
    });
    port.write_all(send).expect("write to the pty");
    let got = rx.recv_timeout(left(deadline));
    let got = got.unwrap_or_else(|e| panic!("{want:?} not seen on the pty: {e}"));
    assert!(
        got.contains(want),
        "{want:?} not seen on the pty; got {got:?}"
    );
    got
}

#[test]
fn pty_console_answers_and_survives_a_reconnect() {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut sim = sim(
        "--transport console --console-pty --security 0 --no-control",
        Stdio::piped(),
    );
    let stderr = chunks(sim.0.stderr.take().expect("stderr"));
    let mut seen = String::new();
    let path = loop {
        let mut lines = seen.split_inclusive('\n').filter(|l| l.ends_with('\n'));
        let line = lines.find_map(|l| l.strip_prefix("Console on "));
        if let Some(path) = line.and_then(|l| l.split_whitespace().next()) {
            break path.to_owned();
        }
        match stderr.recv_timeout(left(deadline)) {
            Ok(chunk) => seen.push_str(&text(&chunk)),
            Err(e) => panic!("no `Console on` line ({e}); stderr: {seen}"),
        }
    };
    assert!(path.starts_with("/dev/pts/"), "{path}");
    // Keep draining the logs so the device never blocks on a full pipe.
    thread::spawn(move || for _ in stderr {});

    let json = version_json(config(Security::Sec0));
    let reply = format!("\r\n{}\r\n", hex::encode(&json));
    for attempt in 0..2 {
        let want = format!("{reply}\n>> ");
        let got = pty_exchange(&path, b"proto-ver 0 6e6f6e65\r", &want, deadline);
        let exchange = format!("proto-ver 0 6e6f6e65\r\n{want}");
        assert!(got.ends_with(&exchange), "attempt {attempt}: {got:?}");
        if attempt == 0 {
            // The prompt written at start waited in the terminal for the first client.
            assert!(got.starts_with("\n>> "), "the first prompt: {got:?}");
        }
        // The serial client has gone away; the next one must still be served.
    }
}
