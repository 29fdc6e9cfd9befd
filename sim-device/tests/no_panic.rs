//! Arbitrary bytes to every endpoint, in every handshake state, never panic the device and never leave it
//! unable to start a fresh session (issue acceptance; spec §7).

mod common;

use std::time::Instant;

use common::{call, sec1, sec2};
use proptest::prelude::*;
use prov_client::srp;
use prov_client::Cipher;
use sim_device::{
    CustomEndpoint, Device, DeviceConfig, Sec2Patch, Secret, Security, SeededRng, Until,
};

const ENDPOINTS: &[&str] = &[
    "proto-ver",
    "prov-session",
    "prov-config",
    "prov-scan",
    "prov-ctrl",
    "custom-data",
    "no-such-ep",
];

#[derive(Clone, Copy, Debug)]
enum Scheme {
    Sec0,
    Sec1,
    Sec2,
}

fn device(scheme: Scheme, now: Instant) -> Device {
    let security = match scheme {
        Scheme::Sec0 => Security::Sec0,
        Scheme::Sec1 => Security::Sec1 {
            pop: Some(Secret(b"abcd1234".to_vec())),
        },
        Scheme::Sec2 => {
            let salt = b"0123456789abcdef".to_vec();
            let verifier = Secret(srp::verifier(b"wifiprov", b"abcd1234", &salt));
            Security::Sec2 {
                salt,
                verifier,
                patch: Sec2Patch::V1,
            }
        }
    };
    let cfg = DeviceConfig {
        security,
        custom_endpoints: vec![CustomEndpoint::echo("custom-data")],
        ..DeviceConfig::default()
    };
    Device::new(cfg, Box::new(SeededRng::new(b"proptest")), now)
}

fn handshake(dev: &mut Device, scheme: Scheme, sid: u32, now: Instant) -> Result<Cipher, String> {
    match scheme {
        Scheme::Sec0 => Ok(Cipher::Plain),
        Scheme::Sec1 => common::handshake(dev, sid, sec1(b"abcd1234"), now),
        Scheme::Sec2 => common::handshake(dev, sid, sec2(b"wifiprov", b"abcd1234"), now),
    }
}

/// Bring session 0 into `stage`: 0 = fresh, 1 = Command0 done, 2 = established.
fn prepare(dev: &mut Device, scheme: Scheme, stage: u8, now: Instant) {
    dev.open_session(0);
    if stage == 2 {
        handshake(dev, scheme, 0, now).expect("clean handshake");
    } else if stage == 1 {
        // A full handshake then a new Command0 leaves the session waiting for Command1.
        if let Scheme::Sec1 | Scheme::Sec2 = scheme {
            let _ = handshake(dev, scheme, 0, now);
            let _ = handshake(dev, scheme, 0, now);
        }
    }
}

fn fresh_session_works(dev: &mut Device, scheme: Scheme, now: Instant) {
    // Let any blocking scan started by the garbage finish, as a transport would wait for it.
    let t = dev.advance(now, Until::Reply).now;
    if dev.is_busy() {
        // A blocking scan started after ApplyConfig never completes on ESP-IDF either (spec §5.2): the
        // device must then refuse further requests as busy rather than misbehave.
        let err = dev.handle("proto-ver", 77, b"x", t).unwrap_err();
        assert_eq!(err.why, sim_device::Reject::Busy);
        return;
    }
    dev.open_session(77);
    let mut c = handshake(dev, scheme, 77, t).expect("fresh handshake after garbage");
    let resp =
        call(dev, "prov-config", 77, &c.encrypt(&[0x52, 0x00]), t).expect("GetStatus answered");
    let plain = c.decrypt(&resp).expect("response decrypts");
    assert_eq!(&plain[..3], &[0x08, 0x01, 0x5a], "a GetStatus response");
}

fn requests() -> impl Strategy<Value = Vec<(usize, u32, Vec<u8>)>> {
    prop::collection::vec(
        (
            0..ENDPOINTS.len(),
            prop_oneof![Just(0u32), Just(1u32)],
            prop::collection::vec(any::<u8>(), 0..600),
        ),
        1..6,
    )
}

fn run(scheme: Scheme, stage: u8, reqs: Vec<(usize, u32, Vec<u8>)>) {
    let now = Instant::now();
    let mut dev = device(scheme, now);
    prepare(&mut dev, scheme, stage, now);
    for (ep, sid, bytes) in reqs {
        let _ = dev.handle(ENDPOINTS[ep], sid, &bytes, now);
        while dev.poll_event().is_some() {}
    }
    fresh_session_works(&mut dev, scheme, now);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]
    #[test]
    fn sec0_any_bytes(stage in 0u8..3, reqs in requests()) { run(Scheme::Sec0, stage, reqs) }

    #[test]
    fn sec1_any_bytes(stage in 0u8..3, reqs in requests()) { run(Scheme::Sec1, stage, reqs) }
}

proptest! {
    // Each Security 2 case costs several 3072-bit exponentiations.
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn sec2_any_bytes(stage in 0u8..3, reqs in requests()) { run(Scheme::Sec2, stage, reqs) }
}

/// Protobuf-shaped garbage reaches deeper than random bytes: valid `SessionData` envelopes with random
/// payloads, and valid handler payloads through an established session.
#[test]
fn structured_garbage_through_established_sessions() {
    use prost::Message;
    use proto::protocomm::{session_data, Sec1Payload, SessionData};
    let now = Instant::now();
    let mut dev = device(Scheme::Sec1, now);
    dev.open_session(0);
    let mut c = common::handshake(&mut dev, 0, sec1(b"abcd1234"), now).unwrap();
    for msg in -1..12 {
        for ep in ["prov-config", "prov-scan", "prov-ctrl"] {
            let bytes = [0x08, msg as u8, 0x10, 0xff, 0x62, 0x02, 0x08, 0x99];
            // Encrypting keeps the client in step: the device consumes keystream for every decrypted request.
            let enc = c.encrypt(&bytes);
            if let Ok(r) = call(&mut dev, ep, 0, &enc, now) {
                let _ = c.decrypt(&r);
            }
        }
        let env = SessionData {
            sec_ver: 1,
            proto: Some(session_data::Proto::Sec1(Sec1Payload {
                msg,
                payload: None,
            })),
        };
        let _ = dev.handle("prov-session", 0, &env.encode_to_vec(), now);
    }
    fresh_session_works(&mut dev, Scheme::Sec1, now);
}
