//! Manager behaviour the golden vectors do not cover, through the public `Device` API with Security 0
//! (plaintext payloads). Expected bytes are the spec's (§5.1, §5.3, §6.2, §8.2), not our own output.

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::call;
use sim_device::{
    Ap, ApFault, Credentials, CustomEndpoint, Device, DeviceConfig, DeviceEvent, DisconnectReason,
    EspErr, Profile, ProvEvent, Reject, SeededRng, ServiceState, Until, WifiWorld,
};

const GET_STATUS: &[u8] = &[0x52, 0x00];
const APPLY: &[u8] = &[0x08, 0x04];
const CTRL_RESET: &[u8] = &[0x08, 0x01];

fn ap(ssid: &str, password: &str, fault: Option<ApFault>) -> Ap {
    Ap {
        ssid: ssid.into(),
        bssid: [0x11, 0x22, 0x33, 0x44, 0x55, 0x66],
        channel: 6,
        rssi: -45,
        auth: 3,
        password: password.into(),
        hidden: false,
        fault,
    }
}

fn world(aps: Vec<Ap>) -> WifiWorld {
    WifiWorld {
        aps,
        ip_on_connect: Ipv4Addr::new(192, 168, 1, 42),
        ..WifiWorld::default()
    }
}

fn boot(cfg: DeviceConfig, now: Instant) -> Device {
    let mut d = Device::new(cfg, Box::new(SeededRng::new(b"manager")), now);
    d.open_session(0);
    d
}

fn set_config(ssid: &str, pass: &str) -> Vec<u8> {
    let mut inner = vec![0x0a, ssid.len() as u8];
    inner.extend_from_slice(ssid.as_bytes());
    inner.extend_from_slice(&[0x12, pass.len() as u8]);
    inner.extend_from_slice(pass.as_bytes());
    let mut out = vec![0x08, 0x02, 0x62, inner.len() as u8];
    out.extend(inner);
    out
}

/// Moves time on by `ms` through the core's drive loop; returns the events it produced.
fn advance(d: &mut Device, now: &mut Instant, ms: u64) -> Vec<DeviceEvent> {
    let done = d.advance(*now, Until::At(*now + Duration::from_millis(ms)));
    *now = done.now;
    done.events
}

fn events(d: &mut Device) -> Vec<DeviceEvent> {
    std::iter::from_fn(|| d.poll_event()).collect()
}

fn provision(d: &mut Device, now: &mut Instant, ssid: &str, pass: &str) {
    assert_eq!(
        call(d, "prov-config", 0, &set_config(ssid, pass), *now).unwrap(),
        [0x08, 0x03, 0x6a, 0x00]
    );
    assert_eq!(
        call(d, "prov-config", 0, APPLY, *now).unwrap(),
        [0x08, 0x05, 0x7a, 0x00]
    );
    advance(d, now, 2000);
}

/// A default device that has joined "myssid" (service state Success, provisioning ended at 2 s).
fn connected_to_myssid() -> (Device, Instant) {
    let mut now = Instant::now();
    let cfg = DeviceConfig {
        wifi: world(vec![ap("myssid", "pw", None)]),
        ..DeviceConfig::default()
    };
    let mut d = boot(cfg, now);
    provision(&mut d, &mut now, "myssid", "pw");
    (d, now)
}

/// The spec's example Connected response for 192.168.1.42, WPA2_PSK, "myssid", 11:22:33:44:55:66, ch 6.
const CONNECTED_MYSSID: &str =
    "08015a245a220a0c3139322e3136382e312e343210031a066d7973736964220611223344556628 06";

#[test]
fn connected_status_matches_spec_example_and_auto_stop_fires_30s_after_ip() {
    let (mut d, mut now) = connected_to_myssid();
    assert_eq!(d.service_state(), ServiceState::Success);
    // Without any GetStatus, the 30 s auto-stop timer (started at GOT_IP) stops the service.
    // Provisioning ended at 2 s; GOT_IP came at 1.55 s (1 s apply delay, 0.5 s association, 50 ms DHCP).
    advance(&mut d, &mut now, 29_549);
    assert!(d.is_running());
    let ev = advance(&mut d, &mut now, 1);
    assert!(!d.is_running());
    assert!(
        ev.contains(&DeviceEvent::TransportStop) && ev.contains(&DeviceEvent::Prov(ProvEvent::End))
    );
    let err = d.handle("proto-ver", 0, b"x", now).unwrap_err();
    assert_eq!(err.err, EspErr::ServiceStopped);

    // The same flow, answered by GetStatus: the spec's example bytes, then teardown after 1 s.
    let (mut d, mut now) = connected_to_myssid();
    let resp = call(&mut d, "prov-config", 0, GET_STATUS, now).unwrap();
    assert_eq!(hex::encode(resp), CONNECTED_MYSSID.replace(' ', ""));
    advance(&mut d, &mut now, 999);
    assert!(d.is_running());
    advance(&mut d, &mut now, 1);
    assert!(!d.is_running());
}

#[test]
fn provisioned_device_skips_provisioning_unless_forced() {
    let now = Instant::now();
    let stored = Credentials {
        ssid: b"myssid".to_vec(),
        passphrase: b"pw".to_vec(),
    };
    let cfg = DeviceConfig {
        wifi: world(vec![ap("myssid", "pw", None)]),
        stored_credentials: Some(stored.clone()),
        ..DeviceConfig::default()
    };
    let mut d = boot(cfg.clone(), now);
    assert!(d.is_provisioned() && !d.is_running());
    assert_eq!(
        d.handle("proto-ver", 0, b"x", now).unwrap_err().why,
        Reject::ServiceStopped
    );
    let mut t = now;
    let ev = advance(&mut d, &mut t, 1000);
    assert!(
        ev.iter().any(|e| matches!(
            e,
            sim_device::DeviceEvent::Wifi(sim_device::WifiEvent::GotIp(_))
        )),
        "{ev:?}"
    );

    let mut d = boot(
        DeviceConfig {
            force_provisioning: true,
            ..cfg
        },
        now,
    );
    assert!(d.is_running());
    d.reset_provisioning();
    assert!(!d.is_provisioned());
    assert!(events(&mut d).contains(&DeviceEvent::EraseCredentials));
    // The passphrase never appears in Debug output.
    assert!(!format!("{:?}", DeviceEvent::StoreCredentials(stored)).contains("pw\""));
}

#[test]
fn ctrl_reset_depends_on_profile() {
    for (profile, expect) in [
        (Profile::EspIdf55, "080210056200"),
        (Profile::NetworkProv12, "08026200"),
    ] {
        let now = Instant::now();
        let mut d = boot(
            DeviceConfig {
                profile,
                ..DeviceConfig::default()
            },
            now,
        );
        let resp = call(&mut d, "prov-ctrl", 0, CTRL_RESET, now).unwrap();
        assert_eq!(hex::encode(resp), expect, "{profile}");
    }
}

#[test]
fn network_prov_answers_thread_commands_with_invalid_argument() {
    let now = Instant::now();
    let mut d = boot(
        DeviceConfig {
            profile: Profile::NetworkProv12,
            ..DeviceConfig::default()
        },
        now,
    );
    // TypeCmdGetThreadStatus (6) → msg 7, resp_get_thread_status (17) with status InvalidArgument.
    assert_eq!(
        hex::encode(call(&mut d, "prov-config", 0, &[0x08, 0x06], now).unwrap()),
        "08078a01020804"
    );
    let v = call(&mut d, "proto-ver", 0, b"ESP", now).unwrap();
    assert!(String::from_utf8(v).unwrap().contains("\"netprov-v1.2\""));
    let mut d = boot(DeviceConfig::default(), now);
    assert_eq!(
        d.handle("prov-config", 0, &[0x08, 0x06], now)
            .unwrap_err()
            .err,
        EspErr::Fail
    );
}

#[test]
fn unmapped_reason_retries_forever_then_connects() {
    let mut now = Instant::now();
    let flaky = ApFault::Flaky {
        times: 3,
        reason: DisconnectReason(210),
    };
    let cfg = DeviceConfig {
        wifi: world(vec![ap("myssid", "pw", Some(flaky))]),
        ..DeviceConfig::default()
    };
    let mut d = boot(cfg, now);
    provision(&mut d, &mut now, "myssid", "pw");
    // Reason 210 is not mapped: the service is FAIL but GetStatus keeps saying Connecting (spec §5.1).
    assert_eq!(d.service_state(), ServiceState::Fail);
    assert_eq!(
        call(&mut d, "prov-config", 0, GET_STATUS, now).unwrap(),
        [0x08, 0x01, 0x5a, 0x02, 0x10, 0x01]
    );
    // Failures at 1.5, 2.0 and 2.5 s, the fourth attempt associates at 3.0 s and gets its IP at 3.05 s.
    advance(&mut d, &mut now, 1049);
    assert_eq!(d.service_state(), ServiceState::Fail);
    advance(&mut d, &mut now, 1);
    assert_eq!(d.service_state(), ServiceState::Success);
}

#[test]
fn vanishing_ap_turns_success_into_failure() {
    let mut now = Instant::now();
    let fault = ApFault::VanishAfter {
        after: Duration::from_secs(1),
    };
    let cfg = DeviceConfig {
        wifi: world(vec![ap("myssid", "pw", Some(fault))]),
        auto_stop: false,
        custom_endpoints: vec![CustomEndpoint::echo("custom-data")],
        ..DeviceConfig::default()
    };
    let mut d = boot(cfg, now);
    provision(&mut d, &mut now, "myssid", "pw");
    assert_eq!(d.service_state(), ServiceState::Success);
    // Vanishes at 2.55 s (beacon timeout, unmapped: reconnect); the reconnect finds no AP (201), which
    // maps to NetworkNotFound: SUCCESS falls back to FAIL (spec §5.1).
    let ev = advance(&mut d, &mut now, 1500);
    assert_eq!(d.service_state(), ServiceState::Fail);
    assert_eq!(
        hex::encode(call(&mut d, "prov-config", 0, GET_STATUS, now).unwrap()),
        "08015a0410035001"
    );
    let fail = ev.into_iter().any(|e| {
        e == DeviceEvent::Prov(ProvEvent::CredFail(
            sim_device::ConnectFailure::NetworkNotFound,
        ))
    });
    assert!(fail, "CRED_FAIL with NetworkNotFound");
}

#[test]
fn ssid_and_passphrase_limits_answer_invalid_argument() {
    let now = Instant::now();
    let mut d = boot(DeviceConfig::default(), now);
    let long = "x".repeat(33);
    assert_eq!(
        call(&mut d, "prov-config", 0, &set_config(&long, "p"), now).unwrap(),
        [0x08, 0x03, 0x6a, 0x02, 0x08, 0x04]
    );
    // No pending credentials → ApplyConfig answers InternalError.
    assert_eq!(
        call(&mut d, "prov-config", 0, APPLY, now).unwrap(),
        [0x08, 0x05, 0x7a, 0x02, 0x08, 0x05]
    );
}
