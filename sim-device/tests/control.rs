//! The control channel against the real binary: state, events and world round trips, AP up/down and
//! forced connect failures seen through provisioning, reboot and factory reset, and credentials that survive
//! a process restart with `--state-dir`.
//!
//! Provisioning goes over the SoftAP HTTP transport with Security 0, through the tiny client below
//! (`POST /prov-config` with protobuf bodies); the tests that need no provisioning do not touch HTTP.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use proto::wifi_prov::{
    resp_get_status, wi_fi_config_payload::Payload, CmdApplyConfig, CmdGetStatus, CmdSetConfig,
    RespGetStatus, WiFiConfigPayload,
};
use proto::Message;
use serde_json::{json, Value};
use support::Sim;

/// The default world's APs with short radio timings, so a connect resolves in tens of milliseconds.
const FAST_WORLD: &str = r#"
ip = "192.168.1.42"
[timing]
scan_per_channel_ms = 10
connect_ms = 40
dhcp_ms = 10
reply_ms = 0
[[ap]]
ssid = "myssid"
password = "mypassword"
[[ap]]
ssid = "Lab 5F"
auth = "Open"
"#;

const WAIT: Duration = Duration::from_secs(15);

/// A scratch path unique to this test process.
fn scratch(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("control-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    let _ = std::fs::remove_file(&p);
    p
}

/// The fast world's file: one fixed path, replaced atomically (concurrent test runs see a whole file).
fn fast_world() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let temp = dir.join(format!("control-world.toml.{}", std::process::id()));
        std::fs::write(&temp, FAST_WORLD).expect("write world file");
        let path = dir.join("control-world.toml");
        std::fs::rename(&temp, &path).expect("rename world file");
        path
    })
}

/// Start Security 0 on the fast world, plus `extra` flags.
fn start(extra: &[&str]) -> Sim {
    let world = fast_world().to_str().expect("UTF-8 path");
    let mut args = vec!["--security", "0", "--world", world];
    args.extend_from_slice(extra);
    Sim::start(&args)
}

fn json_of(sim: &Sim, method: &str, path: &str, body: Option<&str>, want: u16) -> Value {
    let (status, text) = sim.control(method, path, body);
    assert_eq!(status, want, "{method} {path}: {text}");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text:?}"))
}

/// An error answer: status `want` and a JSON `error` message that mentions `mention`.
fn refused(sim: &Sim, method: &str, path: &str, body: Option<&str>, want: u16, mention: &str) {
    let v = json_of(sim, method, path, body, want);
    let msg = v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{method} {path}: no error: {v}"));
    assert!(
        msg.contains(mention),
        "{method} {path}: {msg:?} should mention {mention:?}"
    );
}

fn state(sim: &Sim) -> Value {
    json_of(sim, "GET", "/state", None, 200)
}

/// The first event matching `pred`, waiting up to [`WAIT`].
fn wait_for(sim: &Sim, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let events = sim.events();
        if let Some(e) = events.iter().find(|e| pred(e)) {
            return e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within {WAIT:?}; events: {events:#?}"
        );
        thread::sleep(Duration::from_millis(25));
    }
}

fn named<'a>(name: &'a str) -> impl Fn(&Value) -> bool + 'a {
    move |e: &Value| e["event"] == name
}

// ---- a Security 0 provisioning client -------------------------------------------------------------------

/// One `POST /<endpoint>` with a raw protobuf body; returns the 200 response body.
fn post(addr: SocketAddr, endpoint: &str, body: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "POST /{endpoint} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Accept: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("send head");
    s.write_all(body).expect("send body");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head_len, content_length) = loop {
        let n = s.read(&mut chunk).expect("read response");
        assert!(
            n > 0,
            "/{endpoint}: connection closed without a (complete) response: {buf:?}"
        );
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            assert!(head.starts_with("HTTP/1.1 200"), "/{endpoint}: {head}");
            let len = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .unwrap_or_else(|| panic!("/{endpoint}: no Content-Length: {head}"));
            break (end + 4, len);
        }
    };
    while buf.len() < head_len + content_length {
        let n = s.read(&mut chunk).expect("read body");
        assert!(n > 0, "/{endpoint}: body cut short");
        buf.extend_from_slice(&chunk[..n]);
    }
    buf[head_len..head_len + content_length].to_vec()
}

fn config(addr: SocketAddr, msg: i32, payload: Payload) -> Payload {
    let req = WiFiConfigPayload {
        msg,
        payload: Some(payload),
    };
    let resp =
        WiFiConfigPayload::decode(post(addr, "prov-config", &req.encode_to_vec()).as_slice())
            .expect("WiFiConfigPayload response");
    assert_eq!(resp.msg, msg + 1, "response type");
    resp.payload.expect("response payload")
}

/// SetConfig + ApplyConfig, both answered Success.
fn provision(addr: SocketAddr, ssid: &str, passphrase: &str) {
    let set = CmdSetConfig {
        ssid: ssid.into(),
        passphrase: passphrase.into(),
        ..Default::default()
    };
    match config(addr, 2, Payload::CmdSetConfig(set)) {
        Payload::RespSetConfig(r) => assert_eq!(r.status, 0, "SetConfig status"),
        other => panic!("SetConfig answered {other:?}"),
    }
    match config(addr, 4, Payload::CmdApplyConfig(CmdApplyConfig {})) {
        Payload::RespApplyConfig(r) => assert_eq!(r.status, 0, "ApplyConfig status"),
        other => panic!("ApplyConfig answered {other:?}"),
    }
}

fn get_status(addr: SocketAddr) -> RespGetStatus {
    match config(addr, 0, Payload::CmdGetStatus(CmdGetStatus {})) {
        Payload::RespGetStatus(r) => r,
        other => panic!("GetStatus answered {other:?}"),
    }
}

/// The listener is closed (connection refused), waiting up to [`WAIT`] for the transport to react.
fn wait_refused(addr: SocketAddr) {
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "{addr} still accepts connections"
        );
        thread::sleep(Duration::from_millis(25));
    }
}

/// Send `request` as is and read the answer until the server closes the connection.
fn raw_request(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect control");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw).into_owned()
}

// ---- tests ----------------------------------------------------------------------------------------------

#[test]
fn state_events_and_world_round_trip() {
    let sim = start(&[]);
    let s = state(&sim);
    assert_eq!(
        (&s["boot"], &s["serving"], &s["provisioned"], &s["security"]),
        (&json!(0), &json!(true), &json!(false), &json!(0)),
        "{s}"
    );
    assert_eq!(s["aps_on_air"], 2, "{s}");

    let events = json_of(&sim, "GET", "/events", None, 200);
    assert_eq!(events[0]["event"], "WIFI_PROV_START", "{events}");
    assert_eq!(
        (&events[0]["seq"], &events[0]["boot"]),
        (&json!(1), &json!(0))
    );
    let later = json_of(&sim, "GET", "/events?since=1", None, 200);
    assert!(
        later
            .as_array()
            .is_some_and(|a| a.iter().all(|e| e["seq"].as_u64() > Some(1))),
        "{later}"
    );
    refused(&sim, "GET", "/events?since=-3", None, 400, "since");

    let mut w = json_of(&sim, "GET", "/world", None, 200);
    assert_eq!(w["ap"][0]["ssid"], "myssid", "{w}");
    assert_eq!(w["timing"]["connect_ms"], 40, "{w}");
    w["timing"]["connect_ms"] = json!(77);
    w["ap"].as_array_mut().expect("ap list").push(json!({
        "ssid": "Cafe Ünicode", "auth": "WPA2_PSK", "password": "latte-1234", "channel": 3
    }));
    let put = json_of(&sim, "PUT", "/world", Some(&w.to_string()), 200);
    assert_eq!(put["aps"], 3, "{put}");
    let again = json_of(&sim, "GET", "/world", None, 200);
    assert_eq!(again["timing"]["connect_ms"], 77, "{again}");
    assert_eq!(again["ap"][2]["ssid"], "Cafe Ünicode", "{again}");
    assert_eq!(again["ap"][2]["channel"], 3, "{again}");
    assert_eq!(state(&sim)["aps_on_air"], 3);

    // Garbage, a typo and an invalid AP are all refused with the problem named; the world stays as it was.
    refused(
        &sim,
        "PUT",
        "/world",
        Some("{ this is not json"),
        400,
        "JSON",
    );
    refused(
        &sim,
        "PUT",
        "/world",
        Some(r#"{"ap": [{"ssid": "x", "pasword": "12345678"}]}"#),
        400,
        "pasword",
    );
    refused(
        &sim,
        "PUT",
        "/world",
        Some(r#"{"ap": [{"ssid": "x", "password": "short"}]}"#),
        400,
        "8 to 63",
    );
    assert_eq!(json_of(&sim, "GET", "/world", None, 200), again);
}

#[test]
fn bad_requests_get_json_errors() {
    let sim = start(&[]);
    let addr = sim.control.expect("control");
    // Content type and shape of a raw answer.
    let raw = raw_request(
        addr,
        "GET /state HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(
        raw.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{raw}"
    );

    let index = json_of(&sim, "GET", "/", None, 200);
    assert!(
        index["routes"].as_object().is_some_and(|r| r.len() >= 9),
        "{index}"
    );
    refused(&sim, "GET", "/nope", None, 404, "GET /");
    refused(&sim, "POST", "/state", None, 405, "GET");
    refused(&sim, "DELETE", "/world", None, 405, "GET, PUT");
    refused(&sim, "GET", "/reboot", None, 405, "POST");
    refused(&sim, "GET", "/state?verbose=1", None, 400, "verbose");
    refused(&sim, "POST", "/ap/%zz/down", None, 400, "percent");
    refused(&sim, "POST", "/ap/%ff/down", None, 400, "UTF-8");
    refused(&sim, "POST", "/ap/nowhere/down", None, 404, "nowhere");
    let fail = "/fail-next-connect?reason=";
    refused(&sim, "POST", &format!("{fail}70000"), None, 400, "range");
    refused(
        &sim,
        "POST",
        &format!("{fail}gremlins"),
        None,
        400,
        "auth-fail",
    );
    // An oversized body is refused from its Content-Length, before it is read.
    let raw = raw_request(
        addr,
        "PUT /world HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2000000\r\n\r\n{",
    );
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(raw.contains("\"error\""), "{raw}");

    // Percent-decoded SSIDs; up only after down.
    assert_eq!(
        json_of(&sim, "POST", "/ap/Lab%205F/down", None, 200)["down"],
        1
    );
    assert_eq!(state(&sim)["aps_down"], json!(["Lab 5F"]));
    assert_eq!(json_of(&sim, "POST", "/ap/Lab%205F/up", None, 200)["up"], 1);
    json_of(&sim, "POST", "/ap/Lab%205F/up", None, 404);
    // After all that the device is unharmed.
    assert_eq!(state(&sim)["serving"], true);
}

#[test]
fn ap_down_makes_the_next_connect_network_not_found() {
    let sim = start(&[]);
    assert_eq!(
        json_of(&sim, "POST", "/ap/myssid/down", None, 200)["down"],
        1
    );
    provision(sim.addr(), "myssid", "mypassword");
    let fail = wait_for(&sim, "WIFI_PROV_CRED_FAIL", named("WIFI_PROV_CRED_FAIL"));
    assert_eq!(fail["reason"], "network_not_found", "{fail}");
    let st = get_status(sim.addr());
    assert_eq!(st.sta_state, 3, "ConnectionFailed: {st:?}");
    assert_eq!(
        st.state,
        Some(resp_get_status::State::FailReason(1)),
        "NetworkNotFound: {st:?}"
    );
}

#[test]
fn taking_down_the_connected_ap_disconnects_with_beacon_timeout() {
    let sim = start(&["--no-auto-stop"]);
    provision(sim.addr(), "myssid", "mypassword");
    wait_for(
        &sim,
        "WIFI_PROV_CRED_SUCCESS",
        named("WIFI_PROV_CRED_SUCCESS"),
    );
    let st = get_status(sim.addr());
    assert_eq!(st.sta_state, 0, "Connected: {st:?}");
    let before = state(&sim)["events"].as_u64().expect("event count");
    json_of(&sim, "POST", "/ap/myssid/down", None, 200);
    let gone = wait_for(&sim, "a disconnect after the AP went down", |e| {
        e["seq"].as_u64() > Some(before) && e["event"] == "WIFI_EVENT_STA_DISCONNECTED"
    });
    assert_eq!(gone["reason"], 200, "WIFI_REASON_BEACON_TIMEOUT: {gone}");
    assert_eq!(
        state(&sim)["serving"],
        true,
        "--no-auto-stop keeps the service running"
    );
}

#[test]
fn fail_next_connect_forces_auth_error_with_the_right_password() {
    let sim = start(&[]);
    let r = json_of(&sim, "POST", "/fail-next-connect?reason=201", None, 200);
    assert_eq!(r["next_connect_fails_with"], 201, "{r}");
    let r = json_of(&sim, "POST", "/fail-next-connect", None, 200);
    assert_eq!(r["next_connect_fails_with"], 202, "default auth-fail: {r}");
    let r = json_of(
        &sim,
        "POST",
        "/fail-next-connect?reason=auth-fail",
        None,
        200,
    );
    assert_eq!(r["next_connect_fails_with"], 202, "{r}");
    provision(sim.addr(), "myssid", "mypassword");
    let fail = wait_for(&sim, "WIFI_PROV_CRED_FAIL", named("WIFI_PROV_CRED_FAIL"));
    assert_eq!(fail["reason"], "auth_error", "{fail}");
    let disc = wait_for(&sim, "the disconnect", named("WIFI_EVENT_STA_DISCONNECTED"));
    assert_eq!(disc["reason"], 202, "{disc}");
    let st = get_status(sim.addr());
    assert_eq!(
        st.state,
        Some(resp_get_status::State::FailReason(0)),
        "AuthError: {st:?}"
    );
}

#[test]
fn reboot_keeps_credentials_and_factory_reset_clears_them() {
    let dir = scratch("reboot-state");
    let sim = start(&["--state-dir", dir.to_str().expect("UTF-8 path")]);
    provision(sim.addr(), "myssid", "mypassword");
    wait_for(
        &sim,
        "WIFI_PROV_CRED_SUCCESS",
        named("WIFI_PROV_CRED_SUCCESS"),
    );
    assert!(dir.join("credentials.json").exists());

    let s = json_of(&sim, "POST", "/reboot", None, 200);
    assert_eq!(
        (&s["boot"], &s["provisioned"], &s["serving"]),
        (&json!(1), &json!(true), &json!(false)),
        "{s}"
    );
    let ip = wait_for(&sim, "GOT_IP after the reboot", |e| {
        e["event"] == "IP_EVENT_STA_GOT_IP" && e["boot"] == 1
    });
    assert_eq!(ip["ip"], "192.168.1.42", "{ip}");
    wait_refused(sim.addr());
    let s = state(&sim);
    assert_eq!(
        (&s["provisioned"], &s["serving"]),
        (&json!(true), &json!(false)),
        "{s}"
    );

    let s = json_of(&sim, "POST", "/factory-reset", None, 200);
    assert_eq!(
        (&s["boot"], &s["provisioned"], &s["serving"]),
        (&json!(2), &json!(false), &json!(true)),
        "{s}"
    );
    assert!(
        !dir.join("credentials.json").exists(),
        "credentials.json survived the factory reset"
    );
    wait_for(&sim, "CREDENTIALS_ERASED", named("CREDENTIALS_ERASED"));
    wait_for(&sim, "WIFI_PROV_START in boot 2", |e| {
        e["event"] == "WIFI_PROV_START" && e["boot"] == 2
    });
    // Serving again: the HTTP transport is back and the device waits for credentials.
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(sim.addr()).is_err() {
        assert!(
            Instant::now() < deadline,
            "HTTP did not come back after the factory reset"
        );
        thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(
        get_status(sim.addr()).sta_state,
        1,
        "a fresh device reports Connecting"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn credentials_survive_a_process_restart_until_reset_provisioning() {
    let dir = scratch("restart-state");
    let dir_arg = dir.to_str().expect("UTF-8 path");
    {
        let sim = start(&["--state-dir", dir_arg]);
        provision(sim.addr(), "myssid", "mypassword");
        wait_for(&sim, "CREDENTIALS_STORED", named("CREDENTIALS_STORED"));
    } // killed here

    let sim = start(&["--state-dir", dir_arg]);
    let s = state(&sim);
    assert_eq!(
        (&s["boot"], &s["provisioned"], &s["serving"]),
        (&json!(0), &json!(true), &json!(false)),
        "{s}"
    );
    wait_refused(sim.addr());
    let ip = wait_for(&sim, "GOT_IP as a station", named("IP_EVENT_STA_GOT_IP"));
    assert_eq!(ip["boot"], 0, "{ip}");
    drop(sim);

    let sim = start(&["--state-dir", dir_arg, "--reset-provisioning"]);
    let s = state(&sim);
    assert_eq!(
        (&s["provisioned"], &s["serving"]),
        (&json!(false), &json!(true)),
        "{s}"
    );
    assert!(
        !dir.join("credentials.json").exists(),
        "--reset-provisioning left credentials.json"
    );
    assert_eq!(
        get_status(sim.addr()).sta_state,
        1,
        "a fresh device reports Connecting"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
