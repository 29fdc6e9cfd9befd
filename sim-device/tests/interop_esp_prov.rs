//! Espressif's esp_prov, unchanged, provisioning the real `sim-device` binary over HTTP (SoftAP scheme).
//!
//! esp_prov exits 0 even when provisioning fails, so each case is judged three ways: esp_prov's output,
//! the device's own events (control channel), and the bytes on the wire (a recording proxy sits between
//! the two): every response framed exactly as esp_http_server frames it, and, for Security 0 runs, every
//! plaintext exchange that also occurs in a golden transcript answered as ESP-IDF answered it there.

mod support;

use std::time::Duration;

use support::wire::{assert_esp_http_framing, assert_matches_golden, Proxy};
use support::{esp_prov, vector_world, EspProvRun, Events, Sim, ESP_PROV_SEC2};

const RUN: Duration = Duration::from_secs(90);

fn device(args: &[&str]) -> Sim {
    let world = vector_world();
    let mut all = vec!["--world", world.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    Sim::start(&all)
}

/// esp_prov through a recording proxy in front of `sim`.
fn provision(sim: &Sim, args: &[&str], stdin: &str) -> (EspProvRun, Proxy) {
    let proxy = Proxy::start(sim.addr());
    let target = proxy.addr.to_string();
    let mut all = vec!["--transport", "softap", "--service_name", target.as_str()];
    all.extend_from_slice(args);
    let run = esp_prov(&all, stdin, RUN);
    assert!(!run.timed_out, "esp_prov hung: {}", run.all());
    (run, proxy)
}

fn assert_success(run: &EspProvRun) {
    assert_eq!(run.status, Some(0), "{}", run.all());
    assert!(
        run.stdout.contains("==== Provisioning was successful ===="),
        "{}",
        run.all()
    );
}

const HOME: [&str; 4] = [
    "--ssid",
    "OracleNet-Home",
    "--passphrase",
    "correct horse battery",
];

#[test]
fn security_0() {
    let sim = device(&["--security", "0"]);
    let mut args = vec!["--sec_ver", "0"];
    args.extend(HOME);
    let (run, proxy) = provision(&sim, &args, "");
    assert_success(&run);
    sim.wait_event("WIFI_PROV_CRED_SUCCESS", Duration::from_secs(5));
    let x = proxy.exchanges();
    assert_eq!(assert_esp_http_framing(&x), 4, "{x:?}");
    // Session, SetConfig, ApplyConfig and the Connected GetStatus all occur in the golden transcripts.
    let matched = assert_matches_golden(&x);
    assert!(
        matched >= 4,
        "only {matched} exchanges matched a golden request: {x:?}"
    );
}

#[test]
fn security_1_with_pop() {
    let sim = device(&["--security", "1", "--pop", "abcd1234"]);
    let mut args = vec!["--sec_ver", "1", "--pop", "abcd1234"];
    args.extend(HOME);
    let (run, proxy) = provision(&sim, &args, "");
    assert_success(&run);
    let names = sim.event_names();
    assert!(
        names.contains(&"PROTOCOMM_SECURITY_SESSION_SETUP_OK".to_owned()),
        "{names:?}"
    );
    sim.wait_event("WIFI_PROV_CRED_SUCCESS", Duration::from_secs(5));
    assert!(assert_esp_http_framing(&proxy.exchanges()) >= 5);
    assert_no_secrets_logged(&sim, &["abcd1234", "correct horse battery"]);
}

/// The device logs at debug level in these tests; not even then may a PoP, password or passphrase appear.
fn assert_no_secrets_logged(sim: &Sim, secrets: &[&str]) {
    let logs = sim.logs();
    assert!(
        logs.contains("WIFI_PROV_CRED_SUCCESS"),
        "logs were captured"
    );
    for s in secrets {
        assert!(!logs.contains(s), "secret {s:?} in the device log");
    }
}

#[test]
fn security_1_without_pop() {
    let sim = device(&["--security", "1", "--no-pop"]);
    let mut args = vec!["--sec_ver", "1"];
    args.extend(HOME);
    let (run, proxy) = provision(&sim, &args, "");
    assert_success(&run);
    // The device advertised no_pop, so esp_prov did not ask for one.
    let ver = proxy
        .exchanges()
        .into_iter()
        .find(|x| x.path == "/proto-ver" && x.request_body == b"no_pop")
        .expect("esp_prov asked for the no_pop capability");
    assert!(String::from_utf8_lossy(&ver.response_body).contains("\"no_pop\""));
    sim.wait_event("WIFI_PROV_CRED_SUCCESS", Duration::from_secs(5));
}

fn security_2(patch: &str) {
    let sim = device(&[
        "--security",
        "2",
        "--sec2-username",
        "wifiprov",
        "--sec2-password",
        "abcd1234",
        "--sec-patch-ver",
        patch,
    ]);
    let mut args = ESP_PROV_SEC2.to_vec();
    args.extend(HOME);
    let (run, proxy) = provision(&sim, &args, "");
    assert_success(&run);
    let x = proxy.exchanges();
    let ver = x
        .iter()
        .find(|x| x.path == "/proto-ver")
        .expect("proto-ver");
    let json: serde_json::Value = serde_json::from_slice(&ver.response_body).expect("version JSON");
    assert_eq!(json["prov"]["sec_ver"], 2);
    // Patch 0 stands for firmware from before the fix, whose JSON has no sec_patch_ver (spec §1.3);
    // esp_prov then assumes 0.
    let expected = if patch == "0" { "null" } else { patch };
    assert_eq!(json["prov"]["sec_patch_ver"].to_string(), expected);
    // Command0 carries the 384-byte A and the device answers B (384) and the salt.
    let cmd0 = x
        .iter()
        .find(|x| x.path == "/prov-session")
        .expect("session");
    assert!(cmd0.request_body.len() > 384, "{}", cmd0.request_body.len());
    assert!(
        cmd0.response_body.len() > 384,
        "{}",
        cmd0.response_body.len()
    );
    sim.wait_event("WIFI_PROV_CRED_SUCCESS", Duration::from_secs(5));
    assert!(assert_esp_http_framing(&x) >= 6);
    assert_no_secrets_logged(&sim, &["abcd1234", "correct horse battery"]);
}

#[test]
fn security_2_patch_1() {
    security_2("1");
}

#[test]
fn security_2_patch_0() {
    security_2("0");
}

/// A failed handshake: esp_prov gives up with exit 1; the device closed the connection without a response
/// to Command1 and received no credentials.
fn assert_session_refused(sim: &Sim, run: &EspProvRun, proxy: &Proxy) {
    assert_ne!(run.status, Some(0), "{}", run.all());
    assert!(
        run.stdout.contains("Failed to establish session"),
        "{}",
        run.all()
    );
    let x = proxy.exchanges();
    let session: Vec<_> = x.iter().filter(|x| x.path == "/prov-session").collect();
    assert_eq!(session.len(), 2, "{x:?}");
    assert!(session[0].response_head.is_some(), "Command0 is answered");
    assert!(
        session[1].response_head.is_none(),
        "Command1 gets no HTTP response at all"
    );
    sim.wait_event(
        "PROTOCOMM_SECURITY_SESSION_CREDENTIALS_MISMATCH",
        Duration::from_secs(5),
    );
    assert!(!sim
        .event_names()
        .contains(&"WIFI_PROV_CRED_RECV".to_owned()));
}

#[test]
fn wrong_pop() {
    let sim = device(&["--security", "1", "--pop", "abcd1234"]);
    let mut args = vec!["--sec_ver", "1", "--pop", "wrong-pop"];
    args.extend(HOME);
    let (run, proxy) = provision(&sim, &args, "");
    assert_session_refused(&sim, &run, &proxy);
}

#[test]
fn wrong_security_2_password() {
    let sim = device(&[
        "--security",
        "2",
        "--sec2-username",
        "wifiprov",
        "--sec2-password",
        "abcd1234",
    ]);
    let mut args = vec![
        "--sec_ver",
        "2",
        "--sec2_username",
        "wifiprov",
        "--sec2_pwd",
        "not-it",
    ];
    args.extend(HOME);
    let (run, proxy) = provision(&sim, &args, "");
    assert_session_refused(&sim, &run, &proxy);
}

/// Plaintext of the GetStatus reply ESP-IDF gives after a failed connect (wifi_auth_error_then_reset
/// step 6: `status Success, sta_state ConnectionFailed, fail_reason AuthError`).
const STATUS_AUTH_ERROR: &str = "08015a0410035000";

fn wifi_failure(ssid: &str, passphrase: &str, reason_text: &str, fail_reason: &str) -> Sim {
    let sim = device(&["--security", "0"]);
    let args = ["--sec_ver", "0", "--ssid", ssid, "--passphrase", passphrase];
    let (run, proxy) = provision(&sim, &args, "");
    // esp_prov exits 0 on a Wi-Fi failure: judge by its report and by the device.
    assert_eq!(run.status, Some(0), "{}", run.all());
    assert!(run.stdout.contains(reason_text), "{}", run.all());
    assert!(
        run.stdout.contains("---- Provisioning failed! ----"),
        "{}",
        run.all()
    );
    let fail = sim.wait_event("WIFI_PROV_CRED_FAIL", Duration::from_secs(5));
    assert_eq!(fail["reason"], fail_reason);
    let x = proxy.exchanges();
    let last = x
        .iter()
        .rev()
        .find(|x| x.path == "/prov-config")
        .expect("GetStatus");
    if fail_reason == "auth_error" {
        assert_eq!(hex::encode(&last.response_body), STATUS_AUTH_ERROR);
    }
    assert_matches_golden(&x);
    assert_esp_http_framing(&x);
    sim
}

#[test]
fn wrong_wifi_password() {
    wifi_failure(
        "OracleNet-Home",
        "not the password",
        "Incorrect Password",
        "auth_error",
    );
}

#[test]
fn unknown_ssid() {
    let sim = wifi_failure(
        "NoSuchNetwork",
        "whatever-pass",
        "Incorrect SSID",
        "network_not_found",
    );
    let names = sim.event_names();
    assert!(
        names.contains(&"WIFI_EVENT_STA_DISCONNECTED".to_owned()),
        "{names:?}"
    );
}

#[test]
fn ap_chosen_from_scan() {
    let sim = device(&["--security", "1", "--pop", "abcd1234"]);
    // No --ssid: esp_prov scans and asks; entry 1 is the strongest AP, OracleNet-Home (-41 dBm).
    let args = [
        "--sec_ver",
        "1",
        "--pop",
        "abcd1234",
        "--passphrase",
        "correct horse battery",
    ];
    let (run, _proxy) = provision(&sim, &args, "1\n");
    assert_success(&run);
    for ssid in [
        "OracleNet-Home",
        "OracleNet-Guest",
        "OracleNet-Office",
        "Cafe Free WiFi",
    ] {
        assert!(
            run.stdout.contains(ssid),
            "scan list misses {ssid}: {}",
            run.all()
        );
    }
    let scan = sim.wait_event("SCAN_START", Duration::from_secs(1));
    assert_eq!(
        scan["group_channels"], 5,
        "esp_prov scans SoftAP devices 5 channels at a time"
    );
    let recv = sim.wait_event("WIFI_PROV_CRED_RECV", Duration::from_secs(1));
    assert_eq!(recv["ssid"], "OracleNet-Home");
}

#[test]
fn custom_data() {
    let sim = device(&["--security", "1", "--pop", "abcd1234"]);
    let mut args = vec![
        "--sec_ver",
        "1",
        "--pop",
        "abcd1234",
        "--custom_data",
        "hello-from-esp_prov",
    ];
    args.extend(HOME);
    let (run, proxy) = provision(&sim, &args, "");
    assert_success(&run);
    assert!(
        run.stdout.contains("CustomData response: "),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains("hello-from-esp_prov"),
        "the echo endpoint answers the request: {}",
        run.all()
    );
    let x = proxy.exchanges();
    let custom = x
        .iter()
        .find(|x| x.path == "/custom-data")
        .expect("custom-data request");
    // Security 1 encrypts both ways with one AES-CTR stream: same length, different bytes.
    assert_eq!(custom.request_body.len(), "hello-from-esp_prov".len());
    assert_eq!(custom.response_body.len(), custom.request_body.len());
    assert_ne!(custom.response_body, b"hello-from-esp_prov");
}

#[test]
fn reset_after_failure() {
    let sim = wifi_failure(
        "OracleNet-Home",
        "not the password",
        "Incorrect Password",
        "auth_error",
    );
    let (run, proxy) = provision(&sim, &["--sec_ver", "0", "--reset"], "");
    assert!(
        run.stdout.contains("==== Resetting WiFi===="),
        "{}",
        run.all()
    );
    assert!(!run.stdout.contains("CtrlReset failed"), "{}", run.all());
    let x = proxy.exchanges();
    let reset = x
        .iter()
        .find(|x| x.path == "/prov-ctrl")
        .expect("CtrlReset");
    // wifi_auth_error_then_reset step 9: CmdCtrlReset in FAIL state -> Success.
    assert_eq!(hex::encode(&reset.response_body), "08026200");
    // After the reset the device accepts new credentials.
    let mut args = vec!["--sec_ver", "0"];
    args.extend(HOME);
    let (run, _) = provision(&sim, &args, "");
    assert_success(&run);
}

#[test]
fn reprov_after_success() {
    let sim = device(&["--security", "1", "--pop", "abcd1234", "--no-auto-stop"]);
    let mut args = vec!["--sec_ver", "1", "--pop", "abcd1234"];
    args.extend(HOME);
    let (run, _) = provision(&sim, &args, "");
    assert_success(&run);
    let (run, _) = provision(
        &sim,
        &["--sec_ver", "1", "--pop", "abcd1234", "--reprov"],
        "",
    );
    assert!(
        run.stdout.contains("==== Reprovisioning WiFi===="),
        "{}",
        run.all()
    );
    assert!(!run.stdout.contains("CtrlReprov failed"), "{}", run.all());
    let starts = sim
        .event_names()
        .iter()
        .filter(|n| *n == "WIFI_PROV_START")
        .count();
    assert_eq!(starts, 2, "CtrlReprov restarts provisioning");
    let (run, _) = provision(&sim, &args, "");
    assert_success(&run);
}
