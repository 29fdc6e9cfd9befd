//! Security 2 (spec §3.4): SRP-6a 3072/SHA-512 handshake, then AES-256-GCM with the first 32 bytes of K.
//!
//! States are types: [`Sec2State::AwaitCmd0`] → [`Sec2State::AwaitCmd1`] → [`Sec2State::Established`];
//! `Established` needs a [`ClientProofVerified`] token that only the proof comparison creates. A wrong
//! proof leaves the SRP state intact (a later correct Command1 succeeds), as on ESP-IDF.
//!
//! Patch 1 IV = 8 random bytes ‖ BE32(counter), one counter for both directions, advanced after every
//! successful GCM operation and never after a failed decryption. Patch 0 reuses one 16-byte IV (the
//! nonce-reuse weakness fixed in 2025), selectable to reproduce legacy firmware.

use aes_gcm::aead::consts::U16;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{aes::Aes256, Aes256Gcm, AesGcm, Nonce};
use num_bigint::BigUint;
use num_traits::Zero;
use prost::Message;
use proto::protocomm::{
    sec2_payload, session_data, S2SessionResp0, S2SessionResp1, Sec2MsgType, Sec2Payload,
    SessionData,
};
use zeroize::Zeroizing;

use super::srp;
use super::SecurityEvent;
use crate::config::Sec2Patch;
use crate::error::{EspErr, NoResponse, Reject};
use crate::rng::{DeviceRng, Draw};

type Aes256Gcm16 = AesGcm<Aes256, U16>;

#[derive(Clone, Copy)]
enum Op {
    Seal,
    Open,
}

/// Handshake and session state of one Security 2 session.
pub(crate) enum Sec2State {
    /// Fresh session: expects Command0.
    AwaitCmd0,
    /// Command0 done: expects Command1.
    AwaitCmd1(Box<Pending>),
    /// Secure session established.
    Established(Box<Established>),
}

/// SRP state after Command0.
pub(crate) struct Pending {
    username: Vec<u8>,
    a_bytes: Vec<u8>,
    b_bytes: Vec<u8>,
    key: Zeroizing<[u8; 64]>,
}

/// Proof that the client's M matched (only [`Pending::check_proof`] makes one).
pub(crate) struct ClientProofVerified(());

enum Iv {
    Counter { prefix: [u8; 8], counter: u32 },
    Fixed([u8; 16]),
}

/// An established session.
pub(crate) struct Established {
    key: Zeroizing<[u8; 32]>,
    iv: Iv,
    /// Misbehaviour `gcm-nonce-reuse`: the counter never advances.
    frozen: bool,
}

/// The verifier material the device is provisioned with.
pub(crate) struct Sec2Params<'a> {
    pub(crate) salt: &'a [u8],
    pub(crate) verifier: &'a [u8],
    pub(crate) patch: Sec2Patch,
    pub(crate) opts: Sec2Options,
}

/// Deliberate misbehaviours of Security 2 (all off by default).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sec2Options {
    /// `gcm-nonce-reuse`.
    pub(crate) nonce_reuse: bool,
    /// `accept-short-srp-a`: a client key shorter than 384 bytes is read as a big-endian number.
    pub(crate) accept_short_a: bool,
    /// `accept-zero-srp-a`: no `A mod N == 0` check (S = 0; pre-2026 firmware).
    pub(crate) accept_zero_a: bool,
}

fn fail(why: Reject, events: &mut Vec<SecurityEvent>, event: Option<SecurityEvent>) -> NoResponse {
    if let Some(e) = event {
        events.push(e);
    }
    NoResponse::with(EspErr::Fail, why)
}

/// Handle a `Sec2Payload` on `prov-session`.
pub(crate) fn handshake(
    state: &mut Sec2State,
    payload: Sec2Payload,
    params: &Sec2Params<'_>,
    rng: &mut dyn DeviceRng,
    events: &mut Vec<SecurityEvent>,
) -> Result<Vec<u8>, NoResponse> {
    match Sec2MsgType::try_from(payload.msg) {
        Ok(Sec2MsgType::S2SessionCommand0) => command0(state, payload, params, rng, events),
        Ok(Sec2MsgType::S2SessionCommand1) => command1(state, payload, params, rng, events),
        _ => Err(fail(Reject::UnknownMsg, events, None)),
    }
}

fn command0(
    state: &mut Sec2State,
    payload: Sec2Payload,
    params: &Sec2Params<'_>,
    rng: &mut dyn DeviceRng,
    events: &mut Vec<SecurityEvent>,
) -> Result<Vec<u8>, NoResponse> {
    // Unlike Security 1, the payload check comes before the restart: a malformed Command0 leaves an
    // existing session intact.
    let Some(sec2_payload::Payload::Sc0(cmd)) = payload.payload else {
        return Err(fail(Reject::OneofMismatch, events, None));
    };
    *state = Sec2State::AwaitCmd0;
    let short_ok = params.opts.accept_short_a && cmd.client_pubkey.len() < srp::N_LEN;
    if cmd.client_pubkey.len() != srp::N_LEN && !short_ok {
        return Err(fail(
            Reject::BadLength,
            events,
            Some(SecurityEvent::InvalidSecurityParams),
        ));
    }
    if cmd.client_username.is_empty() || cmd.client_username.len() > usize::from(u16::MAX) {
        return Err(fail(
            Reject::BadLength,
            events,
            Some(SecurityEvent::InvalidSecurityParams),
        ));
    }

    let mut b_bytes = Zeroizing::new([0u8; 32]);
    rng.fill(Draw::Sec2B, b_bytes.as_mut());
    let b = BigUint::from_bytes_be(b_bytes.as_ref());
    let v = BigUint::from_bytes_be(params.verifier);
    let b_pub = srp::device_public(&v, &b);

    let grp = srp::group();
    let a_pub = BigUint::from_bytes_be(&cmd.client_pubkey);
    if (&a_pub % &grp.n).is_zero() && !params.opts.accept_zero_a {
        return Err(fail(Reject::AModNIsZero, events, None));
    }
    let b_min = srp::to_minimal(&b_pub);
    let u = BigUint::from_bytes_be(&srp::u(&cmd.client_pubkey, &b_min));
    if u.is_zero() {
        return Err(fail(Reject::AModNIsZero, events, None));
    }
    let s = srp::device_premaster(&a_pub, &v, &u, &b);
    let key = Zeroizing::new(srp::session_key(&srp::to_minimal(&s)));

    *state = Sec2State::AwaitCmd1(Box::new(Pending {
        username: cmd.client_username,
        a_bytes: cmd.client_pubkey,
        b_bytes: b_min.clone(),
        key,
    }));
    Ok(response(sec2_payload::Payload::Sr0(S2SessionResp0 {
        status: 0,
        device_pubkey: b_min,
        device_salt: params.salt.to_vec(),
    })))
}

impl Pending {
    fn check_proof(&self, salt: &[u8], proof: &[u8]) -> Option<([u8; 64], ClientProofVerified)> {
        let m = srp::client_proof(
            &self.username,
            salt,
            &self.a_bytes,
            &self.b_bytes,
            &self.key,
        );
        // ESP-IDF compares with memcmp; the comparison is constant-time here anyway.
        bool::from(subtle::ConstantTimeEq::ct_eq(m.as_slice(), proof))
            .then_some((m, ClientProofVerified(())))
    }
}

fn command1(
    state: &mut Sec2State,
    payload: Sec2Payload,
    params: &Sec2Params<'_>,
    rng: &mut dyn DeviceRng,
    events: &mut Vec<SecurityEvent>,
) -> Result<Vec<u8>, NoResponse> {
    let Some(sec2_payload::Payload::Sc1(cmd)) = payload.payload else {
        return Err(fail(Reject::OneofMismatch, events, None));
    };
    let Sec2State::AwaitCmd1(pending) = state else {
        return Err(fail(Reject::Cmd1OutOfOrder, events, None));
    };
    if cmd.client_proof.len() != 64 {
        return Err(fail(Reject::BadLength, events, None));
    }
    let Some((m, verified)) = pending.check_proof(params.salt, &cmd.client_proof) else {
        return Err(fail(
            Reject::ProofMismatch,
            events,
            Some(SecurityEvent::CredentialsMismatch),
        ));
    };
    let device_proof = srp::device_proof(&pending.a_bytes, &m, &pending.key);
    let (iv, nonce) = match params.patch {
        Sec2Patch::V1 => {
            let mut prefix = [0u8; 8];
            rng.fill(Draw::Sec2NoncePrefix, &mut prefix);
            let nonce = [prefix.as_slice(), &1u32.to_be_bytes()].concat();
            (Iv::Counter { prefix, counter: 1 }, nonce)
        }
        Sec2Patch::V0 => {
            let mut iv = [0u8; 16];
            rng.fill(Draw::Sec2Nonce16, &mut iv);
            (Iv::Fixed(iv), iv.to_vec())
        }
    };
    let mut aes_key = Zeroizing::new([0u8; 32]);
    aes_key.copy_from_slice(&pending.key[..32]);
    let mut established = Established::new(verified, aes_key, iv);
    established.frozen = params.opts.nonce_reuse;
    *state = Sec2State::Established(Box::new(established));
    events.push(SecurityEvent::SetupOk);
    Ok(response(sec2_payload::Payload::Sr1(S2SessionResp1 {
        status: 0,
        device_proof: device_proof.to_vec(),
        device_nonce: nonce,
    })))
}

impl Established {
    fn new(_proof: ClientProofVerified, key: Zeroizing<[u8; 32]>, iv: Iv) -> Self {
        Self {
            key,
            iv,
            frozen: false,
        }
    }

    /// Decrypt `ciphertext ‖ tag`. A failure leaves the counter where it was.
    pub(crate) fn decrypt(&mut self, data: &[u8]) -> Result<Vec<u8>, NoResponse> {
        if data.len() < 16 {
            // ESP-IDF passes a negative length to malloc.
            return Err(Reject::ShortCiphertext.into());
        }
        if data.len() == 16 {
            return Err(Reject::EmptyPayload.into());
        }
        self.seal(Op::Open, data)
    }

    /// Encrypt, appending the 16-byte tag.
    pub(crate) fn encrypt(&mut self, data: &[u8]) -> Result<Vec<u8>, NoResponse> {
        if data.is_empty() {
            return Err(Reject::EmptyPayload.into());
        }
        self.seal(Op::Seal, data)
    }

    /// One GCM operation with the current IV; the counter advances only on success.
    fn seal(&mut self, op: Op, data: &[u8]) -> Result<Vec<u8>, NoResponse> {
        let key = self.key.as_ref().into();
        let out = match &self.iv {
            Iv::Counter { prefix, counter } => {
                let nonce = counter_nonce(prefix, *counter)?;
                let c = Aes256Gcm::new(key);
                match op {
                    Op::Seal => c.encrypt(Nonce::from_slice(&nonce), data),
                    Op::Open => c.decrypt(Nonce::from_slice(&nonce), data),
                }
            }
            Iv::Fixed(iv) => {
                let c = Aes256Gcm16::new(key);
                match op {
                    Op::Seal => c.encrypt(iv.into(), data),
                    Op::Open => c.decrypt(iv.into(), data),
                }
            }
        }
        // Sealing an in-memory buffer cannot fail at these sizes; only opening can (bad tag).
        .map_err(|_| NoResponse::from(Reject::GcmTagMismatch))?;
        self.advance();
        Ok(out)
    }

    fn advance(&mut self) {
        if self.frozen {
            return;
        }
        if let Iv::Counter { counter, .. } = &mut self.iv {
            *counter = counter.wrapping_add(1);
        }
    }
}

fn counter_nonce(prefix: &[u8; 8], counter: u32) -> Result<[u8; 12], NoResponse> {
    if counter == 0 {
        return Err(Reject::NonceExhausted.into());
    }
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(prefix);
    n[8..].copy_from_slice(&counter.to_be_bytes());
    Ok(n)
}

fn response(payload: sec2_payload::Payload) -> Vec<u8> {
    let msg = match payload {
        sec2_payload::Payload::Sr0(_) => Sec2MsgType::S2SessionResponse0,
        _ => Sec2MsgType::S2SessionResponse1,
    };
    SessionData {
        sec_ver: 2,
        proto: Some(session_data::Proto::Sec2(Sec2Payload {
            msg: msg as i32,
            payload: Some(payload),
        })),
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    //! Known-answer values of spec §3.4.5 through the device state machine.
    use super::*;
    use crate::rng::RecordedRng;
    use proto::protocomm::{S2SessionCmd0, S2SessionCmd1};

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn payload(p: sec2_payload::Payload, msg: i32) -> Sec2Payload {
        Sec2Payload {
            msg,
            payload: Some(p),
        }
    }

    #[test]
    fn kat_handshake_and_gcm() {
        let salt = h("036ee0c7bcb9eda84c9eac97d93decf4");
        let verifier = prov_client::srp::verifier(b"wifiprov", b"abcd1234", &salt);
        let params = Sec2Params {
            salt: &salt,
            verifier: &verifier,
            patch: Sec2Patch::V1,
            opts: Sec2Options::default(),
        };
        let rng = RecordedRng::new();
        rng.push(Draw::Sec2B, (0x52..=0x71).collect());
        rng.push(Draw::Sec2NoncePrefix, h("0102030405060708"));
        let mut dev_rng = rng.clone();
        let mut events = Vec::new();
        let mut state = Sec2State::AwaitCmd0;

        let a_bytes = prov_client::srp::public_a(&(0x11..=0x30).collect::<Vec<u8>>());
        let cmd0 = payload(
            sec2_payload::Payload::Sc0(S2SessionCmd0 {
                client_username: b"wifiprov".to_vec(),
                client_pubkey: a_bytes,
            }),
            0,
        );
        let r0 = handshake(&mut state, cmd0, &params, &mut dev_rng, &mut events).unwrap();
        assert_eq!(r0.len(), 416);
        assert_eq!(
            &r0[..14],
            &h("100262 9b03 0801 aa01 9503 128003"
                .replace(' ', "")
                .as_str())[..]
        );
        assert_eq!(&r0[398..], [h("1a10"), salt.clone()].concat().as_slice());

        let m = h("70dc203ec3b667d829655c8eafd02a2993f193856d09865b8d25965e454aff6387a1de3efadfa5f7e5bc82330774c45da9a24b6391a0f67ee60f441480510234");
        let cmd1 = payload(
            sec2_payload::Payload::Sc1(S2SessionCmd1 { client_proof: m }),
            2,
        );
        let r1 = handshake(&mut state, cmd1, &params, &mut dev_rng, &mut events).unwrap();
        let hamk = "d846a8db2348d9cd5c1708f69382762a4df977ef3f3e8c4e28e2ba6e653baf8a43af7eb00fcd7e3d48883f5acff55df933c7a2c732a21cf3da8151aee44781cb";
        assert_eq!(
            r1,
            h(&format!(
                "100262550803ba01501240{hamk}1a0c010203040506070800000001"
            ))
        );
        assert_eq!(events, vec![SecurityEvent::SetupOk]);

        let Sec2State::Established(s) = &mut state else {
            panic!("not established")
        };
        assert_eq!(
            s.decrypt(&h("d1c3f2a433e27f5531e7e2c7d671ae94130c"))
                .unwrap(),
            h("5200")
        );
        assert_eq!(
            s.encrypt(&h("08015a021001")).unwrap(),
            h("402018827bc1e42b9c2f075ca2d30b024a1a9141209c")
        );
        assert!(rng.problems().is_empty());
    }

    #[test]
    fn kat_patch0_fixed_iv() {
        let k = h("37678a910e52ccd4a5081d23048e954b20ec13d8ec7c961359f0c747a379f355");
        let iv: [u8; 16] = (0xc0..=0xcf).collect::<Vec<u8>>().try_into().unwrap();
        let mut key32 = Zeroizing::new([0u8; 32]);
        key32.copy_from_slice(&k);
        let mut s = Established::new(ClientProofVerified(()), key32, Iv::Fixed(iv));
        assert_eq!(
            s.encrypt(&h("5200")).unwrap(),
            h("08f05483a21e82893452aae677dece7add13")
        );
        // Nonce reuse: the same plaintext encrypts identically again.
        assert_eq!(
            s.encrypt(&h("5200")).unwrap(),
            h("08f05483a21e82893452aae677dece7add13")
        );
    }

    #[test]
    fn misbehaviour_nonce_reuse_freezes_the_counter() {
        let mut s = Established::new(
            ClientProofVerified(()),
            Zeroizing::new([7; 32]),
            Iv::Counter {
                prefix: [1; 8],
                counter: 1,
            },
        );
        s.frozen = true;
        assert_eq!(s.encrypt(b"x").unwrap(), s.encrypt(b"x").unwrap());
    }

    #[test]
    fn misbehaviour_zero_a_lets_a_client_in_without_the_password() {
        let salt = h("036ee0c7bcb9eda84c9eac97d93decf4");
        let verifier = prov_client::srp::verifier(b"wifiprov", b"abcd1234", &salt);
        let mut params = Sec2Params {
            salt: &salt,
            verifier: &verifier,
            patch: Sec2Patch::V1,
            opts: Sec2Options::default(),
        };
        let zero_a = || {
            payload(
                sec2_payload::Payload::Sc0(S2SessionCmd0 {
                    client_username: b"wifiprov".to_vec(),
                    client_pubkey: vec![0; srp::N_LEN],
                }),
                0,
            )
        };
        let mut rng = crate::rng::SeededRng::new(b"zero-a");
        let mut state = Sec2State::AwaitCmd0;
        let err = handshake(&mut state, zero_a(), &params, &mut rng, &mut Vec::new()).unwrap_err();
        assert_eq!(err.why, Reject::AModNIsZero);
        params.opts.accept_zero_a = true;
        let r0 = handshake(&mut state, zero_a(), &params, &mut rng, &mut Vec::new()).unwrap();
        let Some(session_data::Proto::Sec2(Sec2Payload {
            payload: Some(sec2_payload::Payload::Sr0(r0)),
            ..
        })) = SessionData::decode(r0.as_slice()).unwrap().proto
        else {
            panic!("not Response0")
        };
        // S = 0, so K = H(empty) and the proof needs no password.
        let key = srp::session_key(&[]);
        let m = srp::client_proof(
            b"wifiprov",
            &salt,
            &[0; srp::N_LEN],
            &r0.device_pubkey,
            &key,
        );
        let cmd1 = payload(
            sec2_payload::Payload::Sc1(S2SessionCmd1 {
                client_proof: m.to_vec(),
            }),
            2,
        );
        handshake(&mut state, cmd1, &params, &mut rng, &mut Vec::new()).unwrap();
        assert!(matches!(state, Sec2State::Established(_)));
    }
}
