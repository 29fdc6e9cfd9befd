//! Espressif's esp_prov, unchanged, provisioning the real `sim-device` binary over BLE.
//!
//! There is no Bluetooth hardware here: each test starts its own `bluez_loopback::Testbed` (a private
//! dbus-daemon plus a fake bluetoothd) and hands its address to both child processes, the device (bluer,
//! a GATT peripheral) and esp_prov (bleak over dbus-fast, a central). Every byte between them crosses
//! D-Bus exactly as it would cross a real bluetoothd.
//!
//! esp_prov exits 0 even when Wi-Fi provisioning fails, so each case is judged by esp_prov's report and by
//! the device's own events (its JSON log). esp_prov always scans for 5 s and then sleeps 5 s before its
//! first status poll, so a provisioning run takes about 11 s; the cases run in parallel, each on its own
//! bus.

mod support;

use std::time::{Duration, Instant};

use bluez_loopback::{Options, Testbed};
use support::ble::{esp_prov_ble, BleSim};
use support::{EspProvRun, Events, ESP_PROV_SEC2};

/// esp_prov's whole run: scan (5 s), connect, handshake, and status polls 5 s apart.
const RUN: Duration = Duration::from_secs(60);

/// The default world's home network (sim-device/worlds/default.toml).
const HOME: [&str; 4] = ["--ssid", "myssid", "--passphrase", "mypassword"];

const SEC1: [&str; 4] = ["--security", "1", "--pop", "abcd1234"];
const SEC2: [&str; 6] = [
    "--security",
    "2",
    "--sec2-username",
    "wifiprov",
    "--sec2-password",
    "abcd1234",
];

/// A fresh loopback "bluetoothd" on its own bus.
fn testbed(opts: Options) -> Testbed {
    let t = Instant::now();
    let tb = Testbed::start(opts).expect("start the BlueZ loopback (needs dbus-daemon)");
    eprintln!("testbed up in {:?} at {}", t.elapsed(), tb.bus_address());
    tb
}

/// The device, with the control channel off: events come from its log.
fn device(tb: &Testbed, security: &[&str]) -> BleSim {
    let mut args = security.to_vec();
    args.push("--no-control");
    let sim = BleSim::start(tb.bus_address(), &args);
    assert!(
        sim.name.starts_with("PROV_"),
        "service name {:?} from banner {:?}",
        sim.name,
        sim.banner
    );
    sim
}

/// esp_prov against `sim`'s advertised name, with `args` after `--service_name`.
fn provision(tb: &Testbed, sim: &BleSim, args: &[&str]) -> EspProvRun {
    let mut all = vec!["--service_name", sim.name.as_str()];
    all.extend_from_slice(args);
    let t = Instant::now();
    let run = esp_prov_ble(tb.bus_address(), &all, RUN);
    eprintln!("esp_prov ran {:?} (exit {:?})", t.elapsed(), run.status);
    assert!(!run.timed_out, "esp_prov hung: {}", run.all());
    run
}

/// esp_prov found the device by name, mapped every endpoint through its 0x2901 user descriptions (not
/// its fallback UUID table), and reached the session.
fn assert_connected_by_descriptors(run: &EspProvRun) {
    let found = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Discovered endpoints via user descriptors: "))
        .unwrap_or_else(|| panic!("no endpoint discovery: {}", run.all()));
    let names: Vec<&str> = found.split(", ").collect();
    for ep in ["prov-session", "prov-config", "proto-ver"] {
        assert!(names.contains(&ep), "{ep} not discovered in {names:?}");
    }
    assert!(!run.stdout.contains("Missing endpoints"), "{}", run.all());
    assert!(
        run.stdout.contains("==== Starting Session ===="),
        "{}",
        run.all()
    );
}

/// esp_prov reported success and the device went through the whole provisioning path onto `myssid`.
fn assert_provisioned(sim: &BleSim, run: &EspProvRun) {
    assert_eq!(run.status, Some(0), "{}", run.all());
    assert_connected_by_descriptors(run);
    for line in [
        "==== Session Established ====",
        "==== Wi-Fi Credentials sent successfully ====",
        "==== Apply config sent successfully ====",
        "==== Provisioning was successful ====",
    ] {
        assert!(run.stdout.contains(line), "missing {line:?}: {}", run.all());
    }
    sim.wait_event("WIFI_PROV_CRED_SUCCESS", Duration::from_secs(5));
    let names = sim.event_names();
    for e in [
        "PROTOCOMM_SECURITY_SESSION_SETUP_OK",
        "WIFI_PROV_CRED_RECV",
        "WIFI_EVENT_STA_CONNECTED",
        "IP_EVENT_STA_GOT_IP",
    ] {
        assert!(names.iter().any(|n| n == e), "no {e} in {names:?}");
    }
    let recv = sim.wait_event("WIFI_PROV_CRED_RECV", Duration::ZERO);
    assert_eq!(recv["ssid"], "myssid");
    let logs = sim.logs();
    for secret in ["abcd1234", "mypassword"] {
        assert!(
            !logs.contains(secret),
            "secret {secret:?} in the device log"
        );
    }
}

#[test]
fn ble_security_1_provisions() {
    let tb = testbed(Options::default());
    let sim = device(&tb, &SEC1);
    let mut args = vec!["--sec_ver", "1", "--pop", "abcd1234"];
    args.extend(HOME);
    let run = provision(&tb, &sim, &args);
    assert_provisioned(&sim, &run);
}

/// A Security 2 run; returns the device for checks on how it was read.
fn security_2(opts: Options) -> BleSim {
    let tb = testbed(opts);
    let sim = device(&tb, &SEC2);
    let mut args = ESP_PROV_SEC2.to_vec();
    args.extend(HOME);
    let run = provision(&tb, &sim, &args);
    assert_provisioned(&sim, &run);
    sim
}

#[test]
fn ble_security_2_provisions() {
    let sim = security_2(Options::default());
    // At the default MTU (517 on the link, 500 on a Bluedroid device) every response fits one read.
    let offsets = sim.read_offsets();
    eprintln!("characteristic reads at offsets {offsets:?}");
    assert!(offsets.len() >= 6, "reads served: {offsets:?}");
    assert!(offsets.iter().all(|&o| o == 0), "{offsets:?}");
}

/// At the minimum ATT MTU a read returns at most 22 bytes, so Security 2's Response0 (B and the salt,
/// about 416 bytes) reaches esp_prov only through about 19 offset reads (ReadValue with a growing
/// `offset`) that the device must answer with `value[offset..]`.
#[test]
fn ble_mtu_23_offset_reads() {
    let sim = security_2(Options {
        mtu: 23,
        ..Options::default()
    });
    let offsets = sim.read_offsets();
    eprintln!("characteristic reads at offsets {offsets:?}");
    // Response0 alone: reads at 0, 22, 44, ... up to past 400.
    let response0: Vec<u64> = (0..19).map(|i| i * 22).collect();
    assert!(
        offsets.windows(response0.len()).any(|w| w == response0),
        "no run of 22-byte offset reads covering Response0: {offsets:?}"
    );
    assert!(
        offsets.iter().filter(|&&o| o > 0).count() >= 18,
        "{offsets:?}"
    );
}

#[test]
fn ble_wrong_pop_fails() {
    let tb = testbed(Options::default());
    let sim = device(&tb, &SEC1);
    let mut args = vec!["--sec_ver", "1", "--pop", "wrong-pop"];
    args.extend(HOME);
    let run = provision(&tb, &sim, &args);
    // The device refuses Command1 (the Bluedroid profile answers the write with an error and drops the
    // link). esp_prov's establish_session catches only RuntimeError, so bleak's error escapes as a
    // traceback: exit 1, and its "Failed to establish session" line is never printed over BLE.
    assert_eq!(run.status, Some(1), "{}", run.all());
    assert_connected_by_descriptors(&run);
    assert!(!run.stdout.contains("==== Session Established ===="));
    for frame in [
        "in establish_session",
        "in write_gatt_char",
        "bleak.exc.Bleak",
    ] {
        assert!(
            run.stderr.contains(frame),
            "missing {frame:?}: {}",
            run.all()
        );
    }
    sim.wait_event(
        "PROTOCOMM_SECURITY_SESSION_CREDENTIALS_MISMATCH",
        Duration::from_secs(5),
    );
    let names = sim.event_names();
    assert!(
        !names
            .iter()
            .any(|n| n == "PROTOCOMM_SECURITY_SESSION_SETUP_OK" || n == "WIFI_PROV_CRED_RECV"),
        "{names:?}"
    );
}
