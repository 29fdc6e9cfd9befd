//! Security 1 client (spec §3.3): X25519, PoP folded into the key, AES-256-CTR.
//!
//! ```text
//! command0()            → SessionData{sec_ver 1, sec1{Session_Command0, sc0{client_pubkey}}}
//! command1(response0)   → shared = X25519(a, device_pubkey); key = shared ⊕ SHA-256(PoP) (non-empty PoP)
//!                          client_verify = device_pubkey ⊕ keystream[0..32] (IV = device_random)
//! finish(response1)     → device_verify ⊕ keystream[32..64] must equal client_pubkey → Cipher::Ctr
//! ```
//!
//! For negative cases: [`command0_bytes`] / [`command1_bytes`] send arbitrary keys / verify data,
//! [`Sec1Client::client_verify`] exposes the computed verify data, [`Sec1Client::set_pop`] changes the
//! PoP between attempts, and [`Sec1Client::command1_at`] computes Command1 at another keystream
//! offset (ESP-IDF ≤ v5.5 advances its CTR counter by 32 bytes per failed Command1).

use std::fmt;

use proto::protocomm::{
    sec1_payload, Sec1MsgType, Sec1Payload, SessionCmd0, SessionCmd1, SessionResp0, SessionResp1,
};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};

use super::cipher::{Cipher, Ctr};
use super::messages::{decode_scheme_response, session_data_sec1};
use super::rng::ClientRng;
use super::{fixed, ClientError};

/// `SessionData{sec_ver 1, sec1{Session_Command0, sc0{client_pubkey}}}` for any key bytes.
pub fn command0_bytes(client_pubkey: &[u8]) -> Vec<u8> {
    session_data_sec1(
        1,
        Sec1MsgType::SessionCommand0 as i32,
        Some(sec1_payload::Payload::Sc0(SessionCmd0 {
            client_pubkey: client_pubkey.to_vec(),
        })),
    )
}

/// `SessionData{sec_ver 1, sec1{Session_Command1, sc1{client_verify_data}}}` for any verify bytes.
pub fn command1_bytes(verify: &[u8]) -> Vec<u8> {
    session_data_sec1(
        1,
        Sec1MsgType::SessionCommand1 as i32,
        Some(sec1_payload::Payload::Sc1(SessionCmd1 {
            client_verify_data: verify.to_vec(),
        })),
    )
}

/// Decode and check Response0 (`sec_ver` 1, `Session_Response0`, `sr0`, status Success); field
/// lengths are not checked here.
pub fn decode_response0(bytes: &[u8]) -> Result<SessionResp0, ClientError> {
    const WHAT: &str = "Security 1 Response0";
    let msg = Sec1MsgType::SessionResponse0 as i32;
    decode_scheme_response::<Sec1Payload, _>(WHAT, bytes, msg, "sr0", |m| match m {
        sec1_payload::Payload::Sr0(r) => Some((r.status, r)),
        _ => None,
    })
}

/// Decode and check Response1 (`sec_ver` 1, `Session_Response1`, `sr1`, status Success).
pub fn decode_response1(bytes: &[u8]) -> Result<SessionResp1, ClientError> {
    const WHAT: &str = "Security 1 Response1";
    let msg = Sec1MsgType::SessionResponse1 as i32;
    decode_scheme_response::<Sec1Payload, _>(WHAT, bytes, msg, "sr1", |m| match m {
        sec1_payload::Payload::Sr1(r) => Some((r.status, r)),
        _ => None,
    })
}

/// What Response0 taught the client (boxed to keep [`Sec1Client`] small).
struct Derived {
    device_public: [u8; 32],
    device_random: [u8; 16],
    shared: [u8; 32],
    client_verify: [u8; 32],
    /// The handshake stream after the client verify; taken by `finish`.
    stream: Option<Ctr>,
}

/// The Security 1 handshake, client side.
pub struct Sec1Client {
    pop: Option<Vec<u8>>,
    secret: StaticSecret,
    public: [u8; 32],
    derived: Option<Box<Derived>>,
}

impl Sec1Client {
    /// A client with PoP `pop` (`None` or empty: no PoP) and the raw X25519 private key
    /// `private_key` (clamped by X25519 as usual).
    pub fn new(pop: Option<Vec<u8>>, private_key: [u8; 32]) -> Self {
        let secret = StaticSecret::from(private_key);
        let public = PublicKey::from(&secret).to_bytes();
        Self {
            pop,
            secret,
            public,
            derived: None,
        }
    }

    /// A client whose private key is the next 32 bytes of `rng` (as the golden vectors' patched
    /// esp_prov draws it).
    pub fn from_rng(pop: Option<Vec<u8>>, rng: &mut dyn ClientRng) -> Self {
        let mut key = [0u8; 32];
        rng.fill(&mut key);
        Self::new(pop, key)
    }

    /// The client's X25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// The device public key from Response0 (after [`Sec1Client::command1`]).
    pub fn device_public_key(&self) -> Option<[u8; 32]> {
        self.derived.as_ref().map(|d| d.device_public)
    }

    /// `device_random` from Response0 (the CTR initial counter block).
    pub fn device_random(&self) -> Option<[u8; 16]> {
        self.derived.as_ref().map(|d| d.device_random)
    }

    /// The raw X25519 shared secret.
    pub fn shared_secret(&self) -> Option<[u8; 32]> {
        self.derived.as_ref().map(|d| d.shared)
    }

    /// The AES key: shared secret ⊕ SHA-256(PoP), or the shared secret without PoP.
    pub fn session_key(&self) -> Option<[u8; 32]> {
        self.shared_secret().map(|s| self.fold_pop(s))
    }

    /// The client verify data sent in the last Command1 (corrupt it and use [`command1_bytes`] for a
    /// negative case).
    pub fn client_verify(&self) -> Option<[u8; 32]> {
        self.derived.as_ref().map(|d| d.client_verify)
    }

    /// The PoP in use.
    pub fn pop(&self) -> Option<&[u8]> {
        self.pop.as_deref()
    }

    /// Change the PoP (takes effect at the next Command1, e.g. a retry with the right PoP after a
    /// wrong one, on the same Response0).
    pub fn set_pop(&mut self, pop: Option<Vec<u8>>) {
        self.pop = pop;
    }

    fn fold_pop(&self, shared: [u8; 32]) -> [u8; 32] {
        let mut key = shared;
        if let Some(pop) = self.pop.as_deref().filter(|p| !p.is_empty()) {
            for (k, d) in key.iter_mut().zip(Sha256::digest(pop)) {
                *k ^= d;
            }
        }
        key
    }

    /// Command0 carrying this client's public key.
    pub fn command0(&self) -> Vec<u8> {
        command0_bytes(&self.public)
    }

    /// Process Response0 and build Command1 (keystream offset 0).
    pub fn command1(&mut self, response0: &[u8]) -> Result<Vec<u8>, ClientError> {
        self.command1_at(response0, 0)
    }

    /// Process Response0 and build Command1 using keystream bytes `offset..offset + 32` for the
    /// verify data (0 normally; `32·k` to follow an ESP-IDF ≤ v5.5 device after `k` failed
    /// Command1 attempts). The device verify is then expected at the following 32 bytes.
    pub fn command1_at(&mut self, response0: &[u8], offset: u64) -> Result<Vec<u8>, ClientError> {
        let r0 = decode_response0(response0)?;
        let device_public: [u8; 32] = fixed("Response0 device_pubkey", "32", &r0.device_pubkey)?;
        let device_random: [u8; 16] = fixed("Response0 device_random", "16", &r0.device_random)?;
        let shared = self
            .secret
            .diffie_hellman(&PublicKey::from(device_public))
            .to_bytes();
        let key = self.fold_pop(shared);
        let mut stream = Ctr::new(&key, &device_random);
        stream.seek(offset);
        let verify_vec = stream.encrypt(&device_public);
        let verify: [u8; 32] = fixed("client verify", "32", &verify_vec)?;

        self.derived = Some(Box::new(Derived {
            device_public,
            device_random,
            shared,
            client_verify: verify,
            stream: Some(stream),
        }));
        Ok(command1_bytes(&verify))
    }

    /// Check Response1 (the device verify data must decrypt to this client's public key) and return
    /// the data-phase cipher, positioned right after the handshake (byte 64 normally).
    pub fn finish(&mut self, response1: &[u8]) -> Result<Cipher, ClientError> {
        let r1 = decode_response1(response1)?;
        let device_verify: [u8; 32] =
            fixed("Response1 device_verify_data", "32", &r1.device_verify_data)?;
        let mut stream = self
            .derived
            .as_mut()
            .and_then(|d| d.stream.take())
            .ok_or(ClientError::OutOfOrder("finish() before command1()"))?;
        let decrypted = stream.decrypt(&device_verify);
        if decrypted != self.public {
            return Err(ClientError::DeviceVerifyMismatch);
        }
        Ok(Cipher::Ctr(Box::new(stream)))
    }
}

impl fmt::Debug for Sec1Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sec1Client")
            .field("public", &hex::encode(self.public))
            .field("has_pop", &self.pop.as_ref().is_some_and(|p| !p.is_empty()))
            .field("device_public", &self.device_public_key().map(hex::encode))
            .field("device_random", &self.device_random().map(hex::encode))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;
    use crate::test_vectors::*;

    /// Drive a client through the recorded handshake and data phase of `sec1_full_flow.json`.
    #[test]
    fn golden_sec1_full_flow() {
        let v = parse(SEC1_FULL_FLOW);
        let steps = steps(&v);
        let session = session_steps(&v);
        let pop = v["inputs"]["pop"].as_str().unwrap().as_bytes().to_vec();

        let mut c = Sec1Client::new(Some(pop.clone()), secret(&v, 0));
        // The seeded stream gives the same client.
        let seed = h(v["inputs"]["client_seed_hex"].as_str().unwrap());
        let same = Sec1Client::from_rng(Some(pop), &mut SeededRng::new(&seed));
        assert_eq!(same.public_key(), c.public_key());

        assert_eq!(c.command0(), field(session[0], "request_hex").unwrap());
        let resp0 = field(session[0], "response_hex").unwrap();
        assert_eq!(
            c.command1(&resp0).unwrap(),
            field(session[1], "request_hex").unwrap()
        );
        let dv = &v["derived_device_values"];
        assert_eq!(
            c.device_public_key().unwrap().to_vec(),
            h(dv["security1/Device pubkey"][0].as_str().unwrap())
        );
        assert_eq!(
            c.device_random().unwrap().to_vec(),
            h(dv["security1/Device random"][0].as_str().unwrap())
        );
        // ESP-IDF logs "Shared key" after folding in the PoP hash.
        assert_eq!(
            c.session_key().unwrap().to_vec(),
            h(dv["security1/Shared key"][0].as_str().unwrap())
        );
        assert_ne!(c.session_key(), c.shared_secret());
        let mut cipher = c
            .finish(&field(session[1], "response_hex").unwrap())
            .unwrap();
        assert_eq!(cipher.ctr_position(), Some(64));

        let mut data_steps = 0;
        for s in steps.iter().filter(|s| s["endpoint"] != "prov-session") {
            let Some(pt) = field(s, "request_plaintext_hex") else {
                continue; // proto-ver: plaintext JSON, not encrypted
            };
            assert_eq!(
                cipher.encrypt(&pt),
                field(s, "request_hex").unwrap(),
                "step {}",
                s["step"]
            );
            if let Some(resp) = field(s, "response_hex") {
                assert_eq!(
                    cipher.decrypt(&resp).unwrap(),
                    field(s, "response_plaintext_hex").unwrap(),
                    "step {}",
                    s["step"]
                );
            }
            data_steps += 1;
        }
        assert!(data_steps >= 10);
    }

    /// A wrong PoP gives another Command1; the retry rules of `sec1_wrong_pop.json` (device counter
    /// drift of 32 bytes per failed attempt) can be followed with `command1_at`.
    #[test]
    fn golden_sec1_wrong_pop_and_drift() {
        let v = parse(SEC1_WRONG_POP);
        let steps = steps(&v);
        let step = |n: u64| *steps.iter().find(|s| s["step"] == n).unwrap();
        let right = v["inputs"]["pop"].as_str().unwrap().as_bytes().to_vec();
        let wrong = v["inputs"]["client_pop"]
            .as_str()
            .unwrap()
            .as_bytes()
            .to_vec();

        let mut c = Sec1Client::new(Some(wrong), secret(&v, 0));
        assert_eq!(c.command0(), field(step(2), "request_hex").unwrap());
        let resp0 = field(step(2), "response_hex").unwrap();
        assert_eq!(
            c.command1(&resp0).unwrap(),
            field(step(3), "request_hex").unwrap()
        );

        c.set_pop(Some(right));
        assert_eq!(
            c.command1(&resp0).unwrap(),
            field(step(5), "request_hex").unwrap()
        );
        assert_eq!(
            c.command1_at(&resp0, 64).unwrap(),
            field(step(6), "request_hex").unwrap()
        );
        let mut cipher = c.finish(&field(step(6), "response_hex").unwrap()).unwrap();
        assert_eq!(cipher.ctr_position(), Some(128));
        assert_eq!(
            cipher.encrypt(&h("5200")),
            field(step(7), "request_hex").unwrap()
        );
        assert_eq!(
            cipher
                .decrypt(&field(step(7), "response_hex").unwrap())
                .unwrap(),
            h("08015a021001")
        );
    }

    #[test]
    fn wrong_pop_changes_command1() {
        let v = parse(SEC1_FULL_FLOW);
        let session = session_steps(&v);
        let resp0 = field(session[0], "response_hex").unwrap();
        let recorded = field(session[1], "request_hex").unwrap();
        for pop in [Some(b"abcd1235".to_vec()), None, Some(Vec::new())] {
            let mut c = Sec1Client::new(pop, secret(&v, 0));
            assert_ne!(c.command1(&resp0).unwrap(), recorded);
            // The device's Response1 then does not verify.
            assert_eq!(
                c.finish(&field(session[1], "response_hex").unwrap())
                    .unwrap_err(),
                ClientError::DeviceVerifyMismatch
            );
        }
    }

    #[test]
    fn spec_kat_sec1() {
        // Spec §3.3 KAT (PoP "abcd1234").
        let mut c = Sec1Client::new(
            Some(b"abcd1234".to_vec()),
            h("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20")
                .try_into()
                .unwrap(),
        );
        assert_eq!(
            c.public_key().to_vec(),
            h("07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c")
        );
        assert_eq!(
            c.command0(),
            [h("10015a25a201220a20"), c.public_key().to_vec()].concat()
        );
        let resp0 = [
            h("10015a390801aa01341220"),
            h("64b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d48466"),
            h("1a10a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"),
        ]
        .concat();
        assert_eq!(
            c.command1(&resp0).unwrap(),
            h("10015a270802b201221220c4a89b1acc9f181421f27ada88e1d81b23233eedb4ad011f5b4f5eeac83ee6c9")
        );
        assert_eq!(
            c.session_key().unwrap().to_vec(),
            h("cf0c266562b0ebf4d1295c66cc5efceab8fa713f8cb6024932f3bbf59977a8cd")
        );
        // Corrupting the verify data is possible through the raw builder.
        let mut bad = c.client_verify().unwrap();
        bad[0] ^= 0xff;
        assert_ne!(
            command1_bytes(&bad),
            command1_bytes(&c.client_verify().unwrap())
        );
        let mut cipher = c
            .finish(&h(
                "10015a270803ba01221a2029a2e4c89371f5f6e4f0d90538f211db81918ef1eb68cea8db0bc6b0135214f8",
            ))
            .unwrap();
        assert_eq!(cipher.encrypt(&h("5200")), h("018f"));
        // finish consumed the handshake stream.
        assert_eq!(
            c.finish(&h(
                "10015a270803ba01221a2029a2e4c89371f5f6e4f0d90538f211db81918ef1eb68cea8db0bc6b0135214f8"
            ))
            .unwrap_err(),
            ClientError::OutOfOrder("finish() before command1()")
        );
    }

    #[test]
    fn malformed_device_messages_are_errors() {
        let mut c = Sec1Client::new(None, [9; 32]);
        for bad in [
            h("ff"),
            h(""),
            h("10015a00"),
            h("10025a00"),
            h("1001620408010a00"),
            // Response0 with a 31-byte device key.
            [
                h("10015a380801aa0133121f"),
                vec![1; 31],
                h("1a10"),
                vec![2; 16],
            ]
            .concat(),
            // Response0 with status InvalidArgument.
            h("10015a070801aa01020804"),
        ] {
            assert!(c.command1(&bad).is_err(), "{}", hex::encode(&bad));
        }
        assert!(matches!(
            c.command1(&h("10015a070801aa01020804")),
            Err(ClientError::DeviceStatus { status: 4, .. })
        ));
        // An empty answer is named as such (not as a message of defaults, msg 0).
        assert!(matches!(c.finish(&h("")), Err(ClientError::Empty { .. })));
        assert!(matches!(
            c.finish(&h("10015a050803ba0100")),
            Err(ClientError::BadLength { .. })
        ));
    }
}
