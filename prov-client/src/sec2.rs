//! Security 2 client (spec §3.4): SRP-6a 3072/SHA-512 handshake, then AES-256-GCM with `K[0..32]`.
//!
//! ```text
//! command0()            → SessionData{sec_ver 2, sec2{S2Session_Command0, sc0{username, A (384 bytes)}}}
//! command1(response0)   → B, salt → u, S, K, M → sc1{client_proof = M}
//! finish(response1, p)  → device_proof must be H(A ‖ M ‖ K) → Cipher::Gcm (patch p: 0 fixed IV, ≥1 counter)
//! ```
//!
//! For negative cases: [`command0_bytes`] / [`command1_bytes`] send arbitrary A / proofs (A = 0 or
//! A = N via [`srp::N`]), [`Sec2Client::client_proof`] exposes M, and [`Sec2Client::set_credentials`]
//! changes username/password between Command0 and Command1 (wrong-password retry, or a username
//! in M that differs from the one sent).

use std::fmt;

use proto::protocomm::{
    sec2_payload, S2SessionCmd0, S2SessionCmd1, S2SessionResp0, S2SessionResp1, Sec2MsgType,
    Sec2Payload,
};

use super::cipher::{Cipher, Gcm};
use super::messages::{decode_scheme_response, session_data_sec2};
use super::rng::ClientRng;
use super::{srp, ClientError};

/// `SessionData{sec_ver 2, sec2{S2Session_Command0, sc0{client_username, client_pubkey}}}` for any
/// bytes (the device requires a 384-byte `a_pub` and a 1…65535-byte username).
pub fn command0_bytes(username: &[u8], a_pub: &[u8]) -> Vec<u8> {
    session_data_sec2(
        2,
        Sec2MsgType::S2SessionCommand0 as i32,
        Some(sec2_payload::Payload::Sc0(S2SessionCmd0 {
            client_username: username.to_vec(),
            client_pubkey: a_pub.to_vec(),
        })),
    )
}

/// `SessionData{sec_ver 2, sec2{S2Session_Command1, sc1{client_proof}}}` for any bytes.
pub fn command1_bytes(proof: &[u8]) -> Vec<u8> {
    session_data_sec2(
        2,
        Sec2MsgType::S2SessionCommand1 as i32,
        Some(sec2_payload::Payload::Sc1(S2SessionCmd1 {
            client_proof: proof.to_vec(),
        })),
    )
}

/// Decode and check Response0 (`sec_ver` 2, `S2Session_Response0`, `sr0`, status Success); field
/// lengths are not checked here.
pub fn decode_response0(bytes: &[u8]) -> Result<S2SessionResp0, ClientError> {
    const WHAT: &str = "Security 2 Response0";
    let msg = Sec2MsgType::S2SessionResponse0 as i32;
    decode_scheme_response::<Sec2Payload, _>(WHAT, bytes, msg, "sr0", |m| match m {
        sec2_payload::Payload::Sr0(r) => Some((r.status, r)),
        _ => None,
    })
}

/// Decode and check Response1 (`sec_ver` 2, `S2Session_Response1`, `sr1`, status Success).
pub fn decode_response1(bytes: &[u8]) -> Result<S2SessionResp1, ClientError> {
    const WHAT: &str = "Security 2 Response1";
    let msg = Sec2MsgType::S2SessionResponse1 as i32;
    decode_scheme_response::<Sec2Payload, _>(WHAT, bytes, msg, "sr1", |m| match m {
        sec2_payload::Payload::Sr1(r) => Some((r.status, r)),
        _ => None,
    })
}

/// State after Command1 was computed.
#[derive(Clone)]
struct Derived {
    b_pub: Vec<u8>,
    salt: Vec<u8>,
    key: [u8; 64],
    proof: [u8; 64],
}

/// The Security 2 handshake, client side.
pub struct Sec2Client {
    username: Vec<u8>,
    password: Vec<u8>,
    a: [u8; 32],
    a_pub: Vec<u8>,
    derived: Option<Box<Derived>>,
    device_nonce: Option<Vec<u8>>,
}

impl Sec2Client {
    /// A client with the SRP secret `a` (32 big-endian bytes, used as given).
    pub fn new(username: impl AsRef<[u8]>, password: impl AsRef<[u8]>, a: [u8; 32]) -> Self {
        Self {
            username: username.as_ref().to_vec(),
            password: password.as_ref().to_vec(),
            a_pub: srp::public_a(&a),
            a,
            derived: None,
            device_nonce: None,
        }
    }

    /// A client whose `a` is the next 32 bytes of `rng` with the top bit set (esp_prov's rule; the
    /// golden vectors' secrets follow it). `A` is always sent as 384 bytes, left-padded if needed.
    pub fn from_rng(
        username: impl AsRef<[u8]>,
        password: impl AsRef<[u8]>,
        rng: &mut dyn ClientRng,
    ) -> Self {
        let mut a = [0u8; 32];
        rng.fill(&mut a);
        a[0] |= 0x80;
        Self::new(username, password, a)
    }

    /// The SRP secret `a`.
    pub fn secret_a(&self) -> [u8; 32] {
        self.a
    }

    /// `A = g^a mod N`, exactly 384 bytes (left-padded), as sent in Command0.
    pub fn public_a(&self) -> &[u8] {
        &self.a_pub
    }

    /// The username (as sent in Command0 and hashed into M).
    pub fn username(&self) -> &[u8] {
        &self.username
    }

    /// Replace username and password for the next Command1 (Command0 is not resent): e.g. retry
    /// with the right password on the same Response0, or hash another username into M.
    pub fn set_credentials(&mut self, username: impl AsRef<[u8]>, password: impl AsRef<[u8]>) {
        self.username = username.as_ref().to_vec();
        self.password = password.as_ref().to_vec();
    }

    /// Replace only the password for the next Command1.
    pub fn set_password(&mut self, password: impl AsRef<[u8]>) {
        self.password = password.as_ref().to_vec();
    }

    /// Command0: username and the 384-byte A.
    pub fn command0(&self) -> Vec<u8> {
        command0_bytes(&self.username, &self.a_pub)
    }

    /// Process Response0 (B, salt), compute `u`, `S`, `K` and `M`, and build Command1.
    pub fn command1(&mut self, response0: &[u8]) -> Result<Vec<u8>, ClientError> {
        let r0 = decode_response0(response0)?;
        let b_pub = r0.device_pubkey;
        if b_pub.is_empty() || b_pub.len() > srp::N_LEN {
            return Err(ClientError::BadLength {
                what: "Response0 device_pubkey (B)",
                expected: "1..=384",
                got: b_pub.len(),
            });
        }
        if srp::is_zero_mod_n(&b_pub) {
            return Err(ClientError::InvalidDeviceKey("B ≡ 0 mod N"));
        }
        let u = srp::u(&self.a_pub, &b_pub);
        if u.iter().all(|&b| b == 0) {
            return Err(ClientError::InvalidDeviceKey("u = 0"));
        }
        let salt = r0.device_salt;
        let x = srp::x(&self.username, &self.password, &salt);
        let s = srp::client_premaster(&self.a, &b_pub, &x, &u);
        let key = srp::session_key(&s);
        let proof = srp::client_proof(&self.username, &salt, &self.a_pub, &b_pub, &key);
        self.derived = Some(Box::new(Derived {
            b_pub,
            salt,
            key,
            proof,
        }));
        self.device_nonce = None;
        Ok(command1_bytes(&proof))
    }

    /// Device public value B as received (minimal length).
    pub fn device_public_b(&self) -> Option<&[u8]> {
        self.derived.as_ref().map(|d| d.b_pub.as_slice())
    }

    /// The salt as received.
    pub fn salt(&self) -> Option<&[u8]> {
        self.derived.as_ref().map(|d| d.salt.as_slice())
    }

    /// Session key `K` (64 bytes; the GCM key is its first 32).
    pub fn session_key(&self) -> Option<[u8; 64]> {
        self.derived.as_ref().map(|d| d.key)
    }

    /// The client proof `M` sent in the last Command1.
    pub fn client_proof(&self) -> Option<[u8; 64]> {
        self.derived.as_ref().map(|d| d.proof)
    }

    /// The device proof this client expects, `H(A ‖ M ‖ K)`.
    pub fn expected_device_proof(&self) -> Option<[u8; 64]> {
        self.derived
            .as_ref()
            .map(|d| srp::device_proof(&self.a_pub, &d.proof, &d.key))
    }

    /// `device_nonce` from the last accepted Response1.
    pub fn device_nonce(&self) -> Option<&[u8]> {
        self.device_nonce.as_deref()
    }

    /// Check Response1 (device proof) and return the data-phase cipher for `sec_patch_ver` (from the
    /// `proto-ver` document: 0 → fixed-IV patch 0, otherwise the patch-1 counter rule).
    pub fn finish(&mut self, response1: &[u8], sec_patch_ver: u8) -> Result<Cipher, ClientError> {
        let r1 = decode_response1(response1)?;
        let expected = self
            .expected_device_proof()
            .ok_or(ClientError::OutOfOrder("finish() before command1()"))?;
        if r1.device_proof.len() != expected.len() {
            return Err(ClientError::BadLength {
                what: "Response1 device_proof",
                expected: "64",
                got: r1.device_proof.len(),
            });
        }
        if r1.device_proof != expected {
            return Err(ClientError::DeviceProofMismatch);
        }
        let mut gcm_key = [0u8; 32];
        if let Some(d) = &self.derived {
            gcm_key.copy_from_slice(&d.key[..32]);
        }
        let gcm = Gcm::for_patch(gcm_key, &r1.device_nonce, sec_patch_ver)?;
        self.device_nonce = Some(r1.device_nonce);
        Ok(Cipher::Gcm(Box::new(gcm)))
    }
}

impl fmt::Debug for Sec2Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sec2Client")
            .field("username", &String::from_utf8_lossy(&self.username))
            .field("commanded1", &self.derived.is_some())
            .field("device_nonce", &self.device_nonce.as_ref().map(hex::encode))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{FixedRng, SeededRng};
    use crate::test_vectors::*;

    fn creds(v: &serde_json::Value) -> (Vec<u8>, Vec<u8>) {
        (
            v["inputs"]["sec2_username"].as_str().unwrap().into(),
            v["inputs"]["sec2_password"].as_str().unwrap().into(),
        )
    }

    fn session_steps(v: &serde_json::Value) -> Vec<&serde_json::Value> {
        steps(v)
            .into_iter()
            .filter(|s| s["endpoint"] == "prov-session")
            .collect()
    }

    #[test]
    fn golden_sec2_full_flow() {
        let v = parse(SEC2_FULL_FLOW);
        let (user, pass) = creds(&v);
        let session = session_steps(&v);
        let mut c = Sec2Client::new(&user, &pass, secret(&v, 0));
        // The seeded stream (top bit forced, as esp_prov does) gives the same client.
        let seed = h(v["inputs"]["client_seed_hex"].as_str().unwrap());
        let same = Sec2Client::from_rng(&user, &pass, &mut SeededRng::new(&seed));
        assert_eq!(same.secret_a(), c.secret_a());
        assert_eq!(c.public_a().len(), 384);

        assert_eq!(c.command0(), field(session[0], "request_hex").unwrap());
        let resp0 = field(session[0], "response_hex").unwrap();
        assert_eq!(
            c.command1(&resp0).unwrap(),
            field(session[1], "request_hex").unwrap()
        );
        let dv = &v["derived_device_values"];
        assert_eq!(
            c.session_key().unwrap().to_vec(),
            h(dv["security2/Session Key"][0].as_str().unwrap())
        );
        assert_eq!(
            c.client_proof().unwrap().to_vec(),
            h(dv["srp6a/M"][0].as_str().unwrap())
        );
        assert_eq!(v["inputs"]["sec_patch_ver_used_by_client"], 1);
        let mut cipher = c
            .finish(&field(session[1], "response_hex").unwrap(), 1)
            .unwrap();
        assert_eq!(
            c.device_nonce().unwrap().to_vec(),
            h(dv["security2/Initialization vector"][0].as_str().unwrap())
        );
        assert_eq!(cipher.sec2_counter(), Some(1));

        let mut data_steps = 0;
        for s in steps(&v).iter().filter(|s| s["endpoint"] != "prov-session") {
            let Some(pt) = field(s, "request_plaintext_hex") else {
                continue;
            };
            let counter = cipher.sec2_counter().unwrap();
            assert_eq!(
                cipher.encrypt(&pt),
                field(s, "request_hex").unwrap(),
                "step {}",
                s["step"]
            );
            assert_eq!(cipher.sec2_counter(), Some(counter + 1));
            let resp = field(s, "response_hex").unwrap();
            assert_eq!(
                cipher.decrypt(&resp).unwrap(),
                field(s, "response_plaintext_hex").unwrap(),
                "step {}",
                s["step"]
            );
            data_steps += 1;
        }
        assert_eq!(data_steps, 8);
        assert_eq!(cipher.sec2_counter(), Some(17));
    }

    #[test]
    fn golden_sec2_wrong_password_then_retry() {
        let v = parse(SEC2_WRONG_PASSWORD);
        let (user, pass) = creds(&v);
        let session = session_steps(&v);
        let wrong = v["inputs"]["client_password"].as_str().unwrap();
        // The secret is recorded before esp_prov forces its top bit ("client_srp_a (bit 255
        // forced)"); from_rng applies the same rule.
        let mut c = Sec2Client::from_rng(&user, wrong, &mut FixedRng::new(secret(&v, 0).to_vec()));
        assert_eq!(c.secret_a()[0], secret(&v, 0)[0] | 0x80);
        assert_eq!(c.command0(), field(session[0], "request_hex").unwrap());
        let resp0 = field(session[0], "response_hex").unwrap();
        let bad = c.command1(&resp0).unwrap();
        assert_eq!(bad, field(session[1], "request_hex").unwrap());
        c.set_password(&pass);
        let good = c.command1(&resp0).unwrap();
        assert_ne!(good, bad);
        assert_eq!(good, field(session[2], "request_hex").unwrap());
        c.finish(&field(session[2], "response_hex").unwrap(), 1)
            .unwrap();

        // Unknown username: Command0 sent with it, M hashes it, the device fails Command1.
        let mut other = Sec2Client::new(b"someone-else", &pass, secret(&v, 1));
        assert_eq!(other.command0(), field(session[3], "request_hex").unwrap());
        assert_eq!(
            other
                .command1(&field(session[3], "response_hex").unwrap())
                .unwrap(),
            field(session[4], "request_hex").unwrap()
        );
    }

    #[test]
    fn golden_sec2_short_b() {
        // B shorter than 384 bytes: M hashes B unpadded, u pads it.
        let v = parse(SEC2_SHORT_B);
        let (user, pass) = creds(&v);
        let session = session_steps(&v);
        let mut c = Sec2Client::new(&user, &pass, secret(&v, 0));
        assert_eq!(c.command0(), field(session[0], "request_hex").unwrap());
        let resp0 = field(session[0], "response_hex").unwrap();
        assert_eq!(
            c.command1(&resp0).unwrap(),
            field(session[1], "request_hex").unwrap()
        );
        assert!(c.device_public_b().unwrap().len() < 384);
        let mut cipher = c
            .finish(&field(session[1], "response_hex").unwrap(), 1)
            .unwrap();
        for s in steps(&v).iter().filter(|s| s["endpoint"] != "prov-session") {
            if let Some(pt) = field(s, "request_plaintext_hex") {
                assert_eq!(cipher.encrypt(&pt), field(s, "request_hex").unwrap());
                if let Some(resp) = field(s, "response_hex") {
                    assert_eq!(
                        cipher.decrypt(&resp).unwrap(),
                        field(s, "response_plaintext_hex").unwrap()
                    );
                }
            }
        }
    }

    #[test]
    fn spec_kat_sec2_messages() {
        // Spec §3.4.5: message framing with the KAT values.
        let a: Vec<u8> = (0x11..=0x30).collect();
        let salt = h("036ee0c7bcb9eda84c9eac97d93decf4");
        let v = num_bigint::BigUint::from_bytes_be(&srp::verifier(b"wifiprov", b"abcd1234", &salt));
        let b = num_bigint::BigUint::from_bytes_be(&(0x52..=0x71).collect::<Vec<u8>>());
        // The device's B = (k·v + g^b) mod N (its side of the exchange, spec §3.4.5).
        let grp = srp::group();
        let b_pub = ((&grp.k * v + grp.g.modpow(&b, &grp.n)) % &grp.n).to_bytes_be();
        let mut c = Sec2Client::new(b"wifiprov", b"abcd1234", a.try_into().unwrap());
        let cmd0 = c.command0();
        assert_eq!(cmd0.len(), 406);
        assert_eq!(
            cmd0,
            [
                h("1002629103a2018d030a08"),
                b"wifiprov".to_vec(),
                h("128003"),
                c.public_a().to_vec()
            ]
            .concat()
        );
        let resp0 = [h("1002629b030801aa019503128003"), b_pub, h("1a10"), salt].concat();
        assert_eq!(resp0.len(), 416);
        let m = h("70dc203ec3b667d829655c8eafd02a2993f193856d09865b8d25965e454aff6387a1de3efadfa5f7e5bc82330774c45da9a24b6391a0f67ee60f441480510234");
        assert_eq!(
            c.command1(&resp0).unwrap(),
            [h("100262470802b201420a40"), m].concat()
        );
        let hamk = h("d846a8db2348d9cd5c1708f69382762a4df977ef3f3e8c4e28e2ba6e653baf8a43af7eb00fcd7e3d48883f5acff55df933c7a2c732a21cf3da8151aee44781cb");
        let nonce = h("010203040506070800000001");
        let resp1 = [h("100262550803ba01501240"), hamk.clone(), h("1a0c"), nonce].concat();
        let mut cipher = c.finish(&resp1, 1).unwrap();
        assert_eq!(
            cipher.encrypt(&h("5200")),
            h("d1c3f2a433e27f5531e7e2c7d671ae94130c")
        );

        // A wrong device proof is reported as such.
        let mut bad_hamk = hamk;
        bad_hamk[10] ^= 1;
        let bad_resp1 = [
            h("100262550803ba01501240"),
            bad_hamk,
            h("1a0c"),
            h("010203040506070800000001"),
        ]
        .concat();
        assert_eq!(
            c.finish(&bad_resp1, 1).unwrap_err(),
            ClientError::DeviceProofMismatch
        );
        // Patch 1 needs a 12-byte nonce.
        let short_nonce = [
            h("100262510803ba014c1240"),
            c.expected_device_proof().unwrap().to_vec(),
            h("1a08"),
            h("0102030405060708"),
        ]
        .concat();
        assert!(matches!(
            c.finish(&short_nonce, 1),
            Err(ClientError::BadLength { .. })
        ));
    }

    #[test]
    fn short_a_is_padded_and_negative_builders() {
        // Find an `a` whose A has a leading zero byte: the client still sends 384 bytes.
        let mut rng = SeededRng::new(b"short A search");
        let c = loop {
            let c = Sec2Client::from_rng(b"u", b"p", &mut rng);
            if c.public_a()[0] == 0 {
                break c;
            }
        };
        assert_eq!(c.public_a().len(), 384);
        let cmd0 = c.command0();
        assert_eq!(&cmd0[..7], &h("1002628a03a201")[..]);

        // A = N and A = 0 are expressible with the raw builder.
        let with_n = command0_bytes(b"wifiprov", srp::N());
        assert_eq!(with_n.len(), 406);
        assert!(command0_bytes(b"wifiprov", &[0u8; 384]).ends_with(&[0u8; 384]));
        assert_eq!(
            command1_bytes(&[7; 64])[..11],
            h("100262470802b201420a40")[..]
        );

        // FixedRng: queued `a`, top bit forced.
        let c = Sec2Client::from_rng(b"u", b"p", &mut FixedRng::new(vec![0x01; 32]));
        assert_eq!(c.secret_a()[0], 0x81);
    }

    #[test]
    fn malformed_device_messages_are_errors() {
        let mut c = Sec2Client::new(b"u", b"p", [0x42; 32]);
        assert!(matches!(
            c.finish(&h(""), 1),
            Err(ClientError::Empty { .. })
        ));
        // Response0 with B = N (≡ 0).
        let resp0 = [
            h("1002629b030801aa019503128003"),
            srp::N().to_vec(),
            h("1a10"),
            vec![1; 16],
        ]
        .concat();
        assert_eq!(
            c.command1(&resp0).unwrap_err(),
            ClientError::InvalidDeviceKey("B ≡ 0 mod N")
        );
        // Response0 with an empty B.
        assert!(matches!(
            c.command1(&h("100262050801aa0100")),
            Err(ClientError::BadLength { .. })
        ));
        // Response1 before Command1.
        let resp1 = [
            h("100262550803ba01501240"),
            vec![0; 64],
            h("1a0c"),
            vec![0; 12],
        ]
        .concat();
        assert_eq!(
            c.finish(&resp1, 1).unwrap_err(),
            ClientError::OutOfOrder("finish() before command1()")
        );
        // Wrong scheme.
        assert!(matches!(
            c.command1(&h("10015a00")),
            Err(ClientError::UnexpectedMessage { .. })
        ));
    }
}
