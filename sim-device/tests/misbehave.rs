//! Each core misbehaviour changes what the device answers, and only when it is switched on: the same
//! request against a default device and against one with the defect, through the public `Device` API.
//! (The transport ones, `ignore-session-cookie` and `empty-body-processed`, live in the HTTP driver.)

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::call;
use proptest::prelude::*;
use prost::Message;
use proto::protocomm::{sec1_payload, sec2_payload, S2SessionCmd0, Sec1Payload, Sec2Payload};
use proto::protocomm::{session_data, Sec1MsgType, Sec2MsgType, SessionData};
use proto::wifi_prov::{wi_fi_scan_payload, CmdScanResult, WiFiScanPayload};
use prov_client::srp;
use sim_device::{
    Ap, Device, DeviceConfig, DeviceEvent, Misbehaviour, Reject, Sec2Patch, Secret, Security,
    SecurityEvent, SeededRng, Until, WifiWorld,
};

fn device(cfg: &DeviceConfig, m: Option<Misbehaviour>) -> (Device, Instant) {
    let now = Instant::now();
    let cfg = DeviceConfig {
        misbehave: m.into_iter().collect(),
        ..cfg.clone()
    };
    let mut d = Device::new(cfg, Box::new(SeededRng::new(b"misbehave")), now);
    d.open_session(1);
    (d, now)
}

/// The reply (hex) or the rejection, for `req` to `ep` on a fresh device with and without `m`.
fn both(cfg: &DeviceConfig, m: Misbehaviour, ep: &str, req: &[u8]) -> [Result<String, Reject>; 2] {
    [None, Some(m)].map(|m| {
        let (mut d, now) = device(cfg, m);
        match d.handle(ep, 1, req, now) {
            Ok(sim_device::Reply::Ready(b)) => Ok(hex::encode(b)),
            Ok(sim_device::Reply::Deferred) => panic!("deferred"),
            Err(e) => Err(e.why),
        }
    })
}

fn sec1_cfg() -> DeviceConfig {
    DeviceConfig {
        security: Security::Sec1 {
            pop: Some(Secret(b"abcd1234".to_vec())),
        },
        ..DeviceConfig::default()
    }
}

fn sec2_cfg() -> DeviceConfig {
    let salt = b"0123456789abcdef".to_vec();
    let verifier = Secret(srp::verifier(b"wifiprov", b"abcd1234", &salt));
    DeviceConfig {
        security: Security::Sec2 {
            salt,
            verifier,
            patch: Sec2Patch::V1,
        },
        ..DeviceConfig::default()
    }
}

fn ap(ssid: &str) -> Ap {
    Ap {
        ssid: ssid.into(),
        bssid: [0x11, 0x22, 0x33, 0x44, 0x55, 0x66],
        channel: 6,
        rssi: -45,
        auth: 3,
        password: b"right".to_vec(),
        hidden: false,
        fault: None,
    }
}

fn wifi(aps: Vec<Ap>) -> DeviceConfig {
    DeviceConfig {
        wifi: WifiWorld {
            aps,
            ip_on_connect: Ipv4Addr::new(192, 168, 1, 42),
            ..WifiWorld::default()
        },
        ..DeviceConfig::default()
    }
}

fn advance(d: &mut Device, now: &mut Instant, ms: u64) {
    *now = d
        .advance(*now, Until::At(*now + Duration::from_millis(ms)))
        .now;
}

#[test]
fn protocomm_level_defects() {
    use Misbehaviour as M;
    // Sec1 Command1 on a session that has seen no Command0 / an established session.
    let cmd1 = SessionData {
        sec_ver: 1,
        proto: Some(session_data::Proto::Sec1(Sec1Payload {
            msg: Sec1MsgType::SessionCommand1 as i32,
            payload: Some(sec1_payload::Payload::Sc1(Default::default())),
        })),
    }
    .encode_to_vec();
    let [ok, bad] = both(
        &sec1_cfg(),
        M::AnswerBeforeHandshake,
        "prov-config",
        &[0x52, 0x00],
    );
    assert_eq!(
        (ok, bad),
        (Err(Reject::NotEstablished), Ok("08015a021001".into()))
    );
    let [ok, bad] = both(
        &DeviceConfig::default(),
        M::IgnoreSecVer,
        "prov-session",
        &[0x10, 0x01],
    );
    assert_eq!(ok, Err(Reject::SecVerMismatch));
    assert!(bad.is_ok());
    let [ok, bad] = both(&sec1_cfg(), M::IgnoreSecVer, "prov-session", &cmd1[2..]);
    assert_eq!(
        (ok, bad),
        (Err(Reject::SecVerMismatch), Err(Reject::Cmd1OutOfOrder))
    );

    // A 383-byte A.
    let short_a = SessionData {
        sec_ver: 2,
        proto: Some(session_data::Proto::Sec2(Sec2Payload {
            msg: Sec2MsgType::S2SessionCommand0 as i32,
            payload: Some(sec2_payload::Payload::Sc0(S2SessionCmd0 {
                client_username: b"wifiprov".to_vec(),
                client_pubkey: vec![1; srp::N_LEN - 1],
            })),
        })),
    }
    .encode_to_vec();
    let [ok, bad] = both(&sec2_cfg(), M::AcceptShortSrpA, "prov-session", &short_a);
    assert_eq!(ok, Err(Reject::BadLength));
    assert!(bad.is_ok());

    let [ok, bad] = both(&sec2_cfg(), M::MissingSecPatchVer, "proto-ver", b"x");
    assert!(ok.unwrap().contains(&hex::encode("sec_patch_ver")));
    assert!(!bad.unwrap().contains(&hex::encode("sec_patch_ver")));

    // Wrong PoP: Response1 comes back (the client then fails to check it) and the session is set up.
    for m in [None, Some(M::AcceptWrongPop)] {
        let (mut d, now) = device(&sec1_cfg(), m);
        let err = common::handshake(&mut d, 1, common::sec1(b"wrong"), now).err();
        let setup = std::iter::from_fn(|| d.poll_event())
            .any(|e| e == DeviceEvent::Security(SecurityEvent::SetupOk));
        assert_eq!(setup, m.is_some());
        assert_eq!(
            err.as_deref()
                == Some(
                    "client: Security 1: device verify data does not match the client public key"
                ),
            m.is_some()
        );
        // A replayed Command1 after the session is up.
        let (mut d, now) = device(&sec1_cfg(), m.map(|_| M::Cmd1ReplayAccepted));
        common::handshake(&mut d, 1, common::sec1(b"abcd1234"), now).unwrap();
        let replay = call(&mut d, "prov-session", 1, &cmd1, now);
        assert_eq!(replay.is_ok(), m.is_some(), "{replay:?}");
    }
}

#[test]
fn handler_level_defects() {
    use Misbehaviour as M;
    let cfg = DeviceConfig::default();
    let long_ssid = [&[0x08, 0x02, 0x62, 0x23, 0x0a, 0x21][..], &[b'a'; 33]].concat();
    let [ok, bad] = both(&cfg, M::NoSsidLengthCheck, "prov-config", &long_ssid);
    assert_eq!(
        (ok, bad),
        (Ok("08036a020804".into()), Ok("08036a00".into()))
    );
    for req in [&[0x08, 0x02][..], &[0x08, 0x04], &[0x08, 0x00]] {
        let ep = if req[1] == 0x02 {
            "prov-config"
        } else {
            "prov-scan"
        };
        let [ok, bad] = both(&cfg, M::CrashOnMissingPayload, ep, req);
        assert_eq!(
            (ok, bad),
            (Err(Reject::PayloadMismatch), Err(Reject::Crashed))
        );
    }

    // ScanResult for 4 entries when 2 were found.
    let req = WiFiScanPayload {
        msg: 4,
        status: 0,
        payload: Some(wi_fi_scan_payload::Payload::CmdScanResult(CmdScanResult {
            start_index: 0,
            count: 4,
        })),
    }
    .encode_to_vec();
    for (m, status, entries) in [(None, 5, 2), (Some(M::ScanOverrun), 0, 4)] {
        let (mut d, mut now) = device(&wifi(vec![ap("one"), ap("two")]), m);
        call(&mut d, "prov-scan", 1, &[0x52, 0x00], now).unwrap();
        advance(&mut d, &mut now, 10_000);
        let resp = WiFiScanPayload::decode(&call(&mut d, "prov-scan", 1, &req, now).unwrap()[..]);
        let resp = resp.unwrap();
        let Some(wi_fi_scan_payload::Payload::RespScanResult(r)) = resp.payload else {
            panic!("{resp:?}")
        };
        assert_eq!((resp.status, r.entries.len()), (status, entries), "{m:?}");
    }
}

#[test]
fn status_defects_after_an_auth_failure() {
    use Misbehaviour as M;
    let set_wrong = [
        &[0x08, 0x02, 0x62, 0x0c, 0x0a, 0x03][..],
        b"one",
        &[0x12, 0x05],
        b"wrong",
    ]
    .concat();
    let (auth_error, connecting) = ("08015a0410035000", "08015a021001");
    let cases = [
        (None, auth_error, connecting),
        (Some(M::WrongFailureReason), "08015a0410035001", connecting),
        (Some(M::StaleStatusAfterReset), auth_error, auth_error),
    ];
    for (m, failed, after_reapply) in cases {
        let (mut d, mut now) = device(&wifi(vec![ap("one")]), m);
        let cfg = |d: &mut Device, req: &[u8], now| {
            hex::encode(call(d, "prov-config", 1, req, now).unwrap())
        };
        assert_eq!(cfg(&mut d, &set_wrong, now), "08036a00");
        cfg(&mut d, &[0x08, 0x04], now);
        advance(&mut d, &mut now, 5_000);
        assert_eq!(cfg(&mut d, &[0x52, 0x00], now), failed, "{m:?}");
        assert_eq!(
            call(&mut d, "prov-ctrl", 1, &[0x08, 0x01], now).unwrap(),
            [8, 2, 0x62, 0]
        );
        cfg(&mut d, &set_wrong, now);
        assert_eq!(cfg(&mut d, &[0x08, 0x04], now), "08057a00");
        assert_eq!(cfg(&mut d, &[0x52, 0x00], now), after_reapply, "{m:?}");
    }
}

fn all_on(security: &DeviceConfig) -> (Device, Instant) {
    let now = Instant::now();
    let cfg = DeviceConfig {
        misbehave: Misbehaviour::ALL.iter().copied().collect(),
        ..security.clone()
    };
    let mut d = Device::new(cfg, Box::new(SeededRng::new(b"all")), now);
    d.open_session(1);
    (d, now)
}

#[test]
fn every_defect_at_once_survives_degenerate_srp_keys() {
    for a in [vec![], vec![0], vec![0; srp::N_LEN], srp::N().to_vec()] {
        let (mut d, now) = all_on(&sec2_cfg());
        let cmd0 = SessionData {
            sec_ver: 2,
            proto: Some(session_data::Proto::Sec2(Sec2Payload {
                msg: Sec2MsgType::S2SessionCommand0 as i32,
                payload: Some(sec2_payload::Payload::Sc0(S2SessionCmd0 {
                    client_username: b"wifiprov".to_vec(),
                    client_pubkey: a,
                })),
            })),
        };
        // A = 0 and A = N are accepted (S = 0); nothing panics.
        let _ = d.handle("prov-session", 1, &cmd0.encode_to_vec(), now);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// With every defect on, arbitrary bytes still never panic the device.
    #[test]
    fn every_defect_at_once_never_panics(
        scheme in 0usize..3,
        reqs in prop::collection::vec((0usize..5, prop::collection::vec(any::<u8>(), 0..300)), 1..8),
    ) {
        let cfg = [DeviceConfig::default(), sec1_cfg(), sec2_cfg()][scheme].clone();
        let (mut d, now) = all_on(&cfg);
        for (ep, body) in reqs {
            let ep = ["proto-ver", "prov-session", "prov-config", "prov-scan", "prov-ctrl"][ep];
            let _ = d.handle(ep, 1, &body, now);
            while d.poll_event().is_some() {}
        }
    }
}
