//! Security 1 (spec §3.3): X25519 key agreement, optional proof of possession, and one AES-256-CTR
//! keystream shared by both directions for the life of the session.
//!
//! States are types (rustls): [`Sec1State::AwaitCmd0`] → [`Sec1State::AwaitCmd1`] →
//! [`Sec1State::Established`]. Reaching `Established` requires a [`PopVerified`] token that only the
//! constant-time verifier check below can create, so accepting a wrong PoP does not compile (the one
//! opening is the explicit misbehaviour flag `accept-wrong-pop`, honoured inside that same check).
//!
//! ESP-IDF quirks reproduced on purpose: a wrong PoP leaves the session waiting for Command1, and with the
//! ESP-IDF ≤ 5.5 profile the failed attempt has already advanced the CTR counter by 32 bytes.

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use prost::Message;
use proto::protocomm::{
    sec1_payload, session_data, Sec1MsgType, Sec1Payload, SessionData, SessionResp0, SessionResp1,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::SecurityEvent;
use crate::error::{EspErr, NoResponse, Reject};
use crate::rng::{DeviceRng, Draw};

pub(super) type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// Handshake and session state of one Security 1 session.
pub(crate) enum Sec1State {
    /// Fresh session: expects Command0.
    AwaitCmd0,
    /// Command0 done: expects Command1.
    AwaitCmd1(Box<Pending>),
    /// Secure session established.
    Established(Box<Established>),
}

/// Keys agreed by Command0, waiting for the client's verifier.
pub(crate) struct Pending {
    key: Zeroizing<[u8; 32]>,
    device_random: [u8; 16],
    device_pubkey: [u8; 32],
    client_pubkey: [u8; 32],
    /// The stream Command1 attempts consume (kept across failures in the ESP-IDF ≤ 5.5 profile).
    stream: Aes256Ctr,
}

/// Proof that the client's verifier decrypted to our public key (only [`verify`] makes one).
pub(crate) struct PopVerified(());

/// An established session: the keystream continues at byte 64.
pub(crate) struct Established {
    stream: Aes256Ctr,
    /// Misbehaviour `ctr-restart-per-message`: key and IV to rebuild the stream for every message.
    restart: Option<(Zeroizing<[u8; 32]>, [u8; 16])>,
}

impl Established {
    fn new(
        _proof: PopVerified,
        stream: Aes256Ctr,
        restart: Option<(Zeroizing<[u8; 32]>, [u8; 16])>,
    ) -> Self {
        Self { stream, restart }
    }

    /// Decrypt a request (consumes `len` keystream bytes).
    pub(crate) fn decrypt(&mut self, data: &[u8]) -> Result<Vec<u8>, NoResponse> {
        self.apply(data)
    }

    /// Encrypt a response (consumes `len` keystream bytes).
    pub(crate) fn encrypt(&mut self, data: &[u8]) -> Result<Vec<u8>, NoResponse> {
        self.apply(data)
    }

    fn apply(&mut self, data: &[u8]) -> Result<Vec<u8>, NoResponse> {
        if data.is_empty() {
            // On a chip the output buffer is malloc(0) == NULL: no response, keystream untouched.
            return Err(Reject::EmptyPayload.into());
        }
        if let Some((key, iv)) = &self.restart {
            self.stream = Aes256Ctr::new(key.as_ref().into(), iv.into());
        }
        let mut out = data.to_vec();
        self.stream.apply_keystream(&mut out);
        Ok(out)
    }
}

/// Options that change Security 1 behaviour.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sec1Options {
    /// ESP-IDF ≤ 5.5: a failed Command1 leaves the counter advanced; else the stream restarts each time.
    pub(crate) retry_keeps_counter: bool,
    /// Misbehaviour `accept-wrong-pop`.
    pub(crate) accept_wrong_pop: bool,
    /// Misbehaviour `ctr-restart-per-message`.
    pub(crate) ctr_restart_per_message: bool,
}

fn fail(why: Reject, events: &mut Vec<SecurityEvent>, event: Option<SecurityEvent>) -> NoResponse {
    if let Some(e) = event {
        events.push(e);
    }
    NoResponse::with(EspErr::Fail, why)
}

/// Handle a `Sec1Payload` on `prov-session`. `state` is replaced by the next state.
pub(crate) fn handshake(
    state: &mut Sec1State,
    payload: Sec1Payload,
    pop: Option<&[u8]>,
    opts: Sec1Options,
    rng: &mut dyn DeviceRng,
    events: &mut Vec<SecurityEvent>,
) -> Result<Vec<u8>, NoResponse> {
    match Sec1MsgType::try_from(payload.msg) {
        Ok(Sec1MsgType::SessionCommand0) => command0(state, payload, pop, rng, events),
        Ok(Sec1MsgType::SessionCommand1) => command1(state, payload, opts, events),
        _ => Err(fail(Reject::UnknownMsg, events, None)),
    }
}

fn command0(
    state: &mut Sec1State,
    payload: Sec1Payload,
    pop: Option<&[u8]>,
    rng: &mut dyn DeviceRng,
    events: &mut Vec<SecurityEvent>,
) -> Result<Vec<u8>, NoResponse> {
    // Command0 in any state restarts the session first (since 2021), so a malformed Command0 on an
    // established session still destroys it.
    *state = Sec1State::AwaitCmd0;
    let Some(sec1_payload::Payload::Sc0(cmd)) = payload.payload else {
        return Err(fail(
            Reject::OneofMismatch,
            events,
            Some(SecurityEvent::InvalidSecurityParams),
        ));
    };
    let Ok(client_pubkey) = <[u8; 32]>::try_from(cmd.client_pubkey.as_slice()) else {
        return Err(fail(
            Reject::BadLength,
            events,
            Some(SecurityEvent::InvalidSecurityParams),
        ));
    };

    let mut secret_bytes = Zeroizing::new([0u8; 32]);
    rng.fill(Draw::Sec1PrivateKey, secret_bytes.as_mut());
    let secret = StaticSecret::from(*secret_bytes);
    let device_pubkey = PublicKey::from(&secret).to_bytes();
    let shared = secret.diffie_hellman(&PublicKey::from(client_pubkey));
    if !shared.was_contributory() {
        // Low-order client key (0, 1, p−1, the order-8 points): Mbed TLS refuses it.
        return Err(fail(Reject::WeakPublicKey, events, None));
    }
    let mut key = Zeroizing::new(*shared.as_bytes());
    if let Some(pop) = pop.filter(|p| !p.is_empty()) {
        let digest = Sha256::digest(pop);
        for (k, d) in key.iter_mut().zip(digest.iter()) {
            *k ^= d;
        }
    }
    let mut device_random = [0u8; 16];
    rng.fill(Draw::Sec1DeviceRandom, &mut device_random);

    let stream = Aes256Ctr::new(key.as_ref().into(), (&device_random).into());
    *state = Sec1State::AwaitCmd1(Box::new(Pending {
        key,
        device_random,
        device_pubkey,
        client_pubkey,
        stream,
    }));
    Ok(response(sec1_payload::Payload::Sr0(SessionResp0 {
        status: 0,
        device_pubkey: device_pubkey.to_vec(),
        device_random: device_random.to_vec(),
    })))
}

fn command1(
    state: &mut Sec1State,
    payload: Sec1Payload,
    opts: Sec1Options,
    events: &mut Vec<SecurityEvent>,
) -> Result<Vec<u8>, NoResponse> {
    let mut pending = match std::mem::replace(state, Sec1State::AwaitCmd0) {
        Sec1State::AwaitCmd1(p) => p,
        other => {
            *state = other;
            return Err(fail(Reject::Cmd1OutOfOrder, events, None));
        }
    };
    // Every failure below leaves the session waiting for Command1, with the stream where it got to.
    let Some(sec1_payload::Payload::Sc1(cmd)) = payload.payload else {
        *state = Sec1State::AwaitCmd1(pending);
        return Err(fail(
            Reject::OneofMismatch,
            events,
            Some(SecurityEvent::InvalidSecurityParams),
        ));
    };
    let Ok(verifier) = <[u8; 32]>::try_from(cmd.client_verify_data.as_slice()) else {
        *state = Sec1State::AwaitCmd1(pending);
        return Err(fail(
            Reject::BadLength,
            events,
            Some(SecurityEvent::InvalidSecurityParams),
        ));
    };
    if !opts.retry_keeps_counter {
        pending.stream =
            Aes256Ctr::new(pending.key.as_ref().into(), (&pending.device_random).into());
    }
    let Some(proof) = verify(&mut pending, verifier, opts.accept_wrong_pop) else {
        *state = Sec1State::AwaitCmd1(pending);
        return Err(fail(
            Reject::PopMismatch,
            events,
            Some(SecurityEvent::CredentialsMismatch),
        ));
    };
    let mut device_verify = pending.client_pubkey;
    pending.stream.apply_keystream(&mut device_verify);
    let restart = opts
        .ctr_restart_per_message
        .then(|| (pending.key.clone(), pending.device_random));
    *state = Sec1State::Established(Box::new(Established::new(proof, pending.stream, restart)));
    events.push(SecurityEvent::SetupOk);
    Ok(response(sec1_payload::Payload::Sr1(SessionResp1 {
        status: 0,
        device_verify_data: device_verify.to_vec(),
    })))
}

/// Decrypt the client's verifier with the next 32 keystream bytes and compare it with our public key in
/// constant time. The keystream is consumed whatever the outcome, as Mbed TLS does. `accept_wrong` is the
/// misbehaviour `accept-wrong-pop`: the comparison's result is ignored (the token is still made only here).
fn verify(
    pending: &mut Pending,
    mut verifier: [u8; 32],
    accept_wrong: bool,
) -> Option<PopVerified> {
    pending.stream.apply_keystream(&mut verifier);
    let matches = bool::from(verifier.ct_eq(&pending.device_pubkey));
    (matches || accept_wrong).then_some(PopVerified(()))
}

fn response(payload: sec1_payload::Payload) -> Vec<u8> {
    let msg = match payload {
        sec1_payload::Payload::Sr0(_) => Sec1MsgType::SessionResponse0,
        _ => Sec1MsgType::SessionResponse1,
    };
    SessionData {
        sec_ver: 1,
        proto: Some(session_data::Proto::Sec1(Sec1Payload {
            msg: msg as i32,
            payload: Some(payload),
        })),
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    //! Known-answer values of spec §3.3 (PoP `abcd1234`).
    use super::*;
    use crate::rng::RecordedRng;
    use proto::protocomm::{SessionCmd0, SessionCmd1};

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    const DEVICE_PRIV: &str = "4142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f60";
    const CLIENT_PUB: &str = "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c";
    const DEVICE_PUB: &str = "64b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d48466";
    const DEVICE_RANDOM: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf";

    fn decode_payload(bytes: &[u8]) -> Sec1Payload {
        match SessionData::decode(bytes).unwrap().proto {
            Some(session_data::Proto::Sec1(p)) => p,
            _ => panic!("not sec1"),
        }
    }

    fn run_kat(opts: Sec1Options) -> (Sec1State, Vec<SecurityEvent>) {
        let rng = RecordedRng::new();
        rng.push(Draw::Sec1PrivateKey, h(DEVICE_PRIV));
        rng.push(Draw::Sec1DeviceRandom, h(DEVICE_RANDOM));
        let mut dev_rng = rng.clone();
        let mut state = Sec1State::AwaitCmd0;
        let mut events = Vec::new();

        let cmd0 = [h("10015a25a201220a20"), h(CLIENT_PUB)].concat();
        let req = decode_payload(&cmd0);
        assert_eq!(
            req.payload,
            Some(sec1_payload::Payload::Sc0(SessionCmd0 {
                client_pubkey: h(CLIENT_PUB)
            }))
        );
        let r0 = handshake(
            &mut state,
            req,
            Some(b"abcd1234"),
            opts,
            &mut dev_rng,
            &mut events,
        )
        .unwrap();
        assert_eq!(
            r0,
            [
                h("10015a390801aa01341220"),
                h(DEVICE_PUB),
                h("1a10"),
                h(DEVICE_RANDOM)
            ]
            .concat()
        );
        let Sec1State::AwaitCmd1(p) = &state else {
            panic!("state")
        };
        assert_eq!(
            p.key.to_vec(),
            h("cf0c266562b0ebf4d1295c66cc5efceab8fa713f8cb6024932f3bbf59977a8cd")
        );

        let cmd1 = h("10015a270802b201221220c4a89b1acc9f181421f27ada88e1d81b23233eedb4ad011f5b4f5eeac83ee6c9");
        let r1 = handshake(
            &mut state,
            decode_payload(&cmd1),
            Some(b"abcd1234"),
            opts,
            &mut dev_rng,
            &mut events,
        )
        .unwrap();
        assert_eq!(r1, h("10015a270803ba01221a2029a2e4c89371f5f6e4f0d90538f211db81918ef1eb68cea8db0bc6b0135214f8"));
        assert!(rng.problems().is_empty());
        (state, events)
    }

    #[test]
    fn kat_handshake_and_data_phase() {
        let (mut state, events) = run_kat(Sec1Options {
            retry_keeps_counter: true,
            ..Sec1Options::default()
        });
        assert_eq!(events, vec![SecurityEvent::SetupOk]);
        let Sec1State::Established(s) = &mut state else {
            panic!("not established")
        };
        assert_eq!(s.decrypt(&h("018f")).unwrap(), h("5200"));
        assert_eq!(s.encrypt(&h("08015a021001")).unwrap(), h("bd7e870688b4"));
        assert_eq!(
            s.decrypt(&h("f0daa21132f8dd0120634d6e556a6b68dbc06cfa009c3c1b"))
                .unwrap(),
            h("080262140a066d7973736964120a6d7970617373776f7264")
        );
    }

    #[test]
    fn wrong_verifier_keeps_cmd1_state() {
        let rng = RecordedRng::new();
        rng.push(Draw::Sec1PrivateKey, h(DEVICE_PRIV));
        rng.push(Draw::Sec1DeviceRandom, h(DEVICE_RANDOM));
        let mut dev_rng = rng.clone();
        let mut state = Sec1State::AwaitCmd0;
        let mut events = Vec::new();
        let opts = Sec1Options::default();
        let cmd0 = decode_payload(&[h("10015a25a201220a20"), h(CLIENT_PUB)].concat());
        handshake(
            &mut state,
            cmd0,
            Some(b"abcd1234"),
            opts,
            &mut dev_rng,
            &mut events,
        )
        .unwrap();
        let bad = SessionData {
            sec_ver: 1,
            proto: Some(session_data::Proto::Sec1(Sec1Payload {
                msg: 2,
                payload: Some(sec1_payload::Payload::Sc1(SessionCmd1 {
                    client_verify_data: vec![0; 32],
                })),
            })),
        };
        let bad = decode_payload(&bad.encode_to_vec());
        let err = handshake(
            &mut state,
            bad,
            Some(b"abcd1234"),
            opts,
            &mut dev_rng,
            &mut events,
        )
        .unwrap_err();
        assert_eq!(err.why, Reject::PopMismatch);
        assert!(matches!(state, Sec1State::AwaitCmd1(_)));
        // With the PSA profile the stream restarts, so the correct verifier still succeeds.
        let good = h("10015a270802b201221220c4a89b1acc9f181421f27ada88e1d81b23233eedb4ad011f5b4f5eeac83ee6c9");
        handshake(
            &mut state,
            decode_payload(&good),
            Some(b"abcd1234"),
            opts,
            &mut dev_rng,
            &mut events,
        )
        .unwrap();
        assert!(matches!(state, Sec1State::Established(_)));
    }

    fn after_cmd0(opts: Sec1Options) -> Sec1State {
        let rng = RecordedRng::new();
        rng.push(Draw::Sec1PrivateKey, h(DEVICE_PRIV));
        rng.push(Draw::Sec1DeviceRandom, h(DEVICE_RANDOM));
        let mut state = Sec1State::AwaitCmd0;
        let cmd0 = decode_payload(&[h("10015a25a201220a20"), h(CLIENT_PUB)].concat());
        handshake(
            &mut state,
            cmd0,
            Some(b"abcd1234"),
            opts,
            &mut rng.clone(),
            &mut Vec::new(),
        )
        .unwrap();
        state
    }

    fn cmd1(verifier: Vec<u8>) -> Sec1Payload {
        Sec1Payload {
            msg: Sec1MsgType::SessionCommand1 as i32,
            payload: Some(sec1_payload::Payload::Sc1(SessionCmd1 {
                client_verify_data: verifier,
            })),
        }
    }

    #[test]
    fn misbehaviours_wrong_pop_accepted_and_ctr_restarted() {
        let mut events = Vec::new();
        let mut rng = RecordedRng::new();
        let bad = |opts| {
            let mut st = after_cmd0(opts);
            let r = handshake(
                &mut st,
                cmd1(vec![0; 32]),
                None,
                opts,
                &mut rng.clone(),
                &mut Vec::new(),
            );
            (r, st)
        };
        assert_eq!(
            bad(Sec1Options::default()).0.unwrap_err().why,
            Reject::PopMismatch
        );
        let opts = Sec1Options {
            accept_wrong_pop: true,
            ctr_restart_per_message: true,
            ..Sec1Options::default()
        };
        let mut state = after_cmd0(opts);
        handshake(
            &mut state,
            cmd1(vec![0; 32]),
            None,
            opts,
            &mut rng,
            &mut events,
        )
        .unwrap();
        assert_eq!(events, vec![SecurityEvent::SetupOk]);
        let Sec1State::Established(s) = &mut state else {
            panic!("not established")
        };
        // Every message starts at keystream byte 0: the same bytes decrypt the same way twice.
        let first = s.decrypt(&h("018f")).unwrap();
        assert_eq!(s.encrypt(&h("018f")).unwrap(), first);
    }
}
