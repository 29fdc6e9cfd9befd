//! The client side of Espressif unified provisioning, sans-IO: every function takes the device's bytes
//! and returns the bytes to send, so the same code drives the conformance suite (over any transport),
//! the simulator's own tests, the benchmarks and the golden replay.
//!
//! - [`Handshake`]: any scheme's handshake, and [`Handshake::run`] to drive one over any exchange;
//! - [`rng`]: injectable client randomness ([`ClientRng`], with the golden vectors' [`SeededRng`]);
//! - [`sec1`]: Security 1 handshake (X25519 + PoP, spec §3.3) → [`Cipher::Ctr`];
//! - [`sec2`] and [`srp`]: Security 2 handshake (SRP-6a 3072/SHA-512, spec §3.4) → [`Cipher::Gcm`];
//! - [`cipher`]: the data-phase ciphers, with diagnostics for keystream / nonce-counter cases;
//! - [`messages`]: builders and decoders for `prov-config`, `prov-scan`, `prov-ctrl` and raw
//!   `SessionData` (spec §2);
//! - [`profile`]: the implementation families (ESP-IDF 5.5, network_provisioning 1.2, Zephyr).
//!
//! Besides the client, two things here are shared with the device: the SRP-6a group and the formulas
//! both sides evaluate ([`srp`]), and the golden vectors' seeded randomness stream ([`SeededRng`]).
//! The crate depends on `proto` only.
//!
//! Everything that parses device bytes returns [`ClientError`]; nothing panics on them. The handshake
//! clients can also produce deliberately wrong messages (free `command*_bytes` builders, access to the
//! derived verify data / proof, explicit keystream offsets) for the negative conformance cases.

pub mod cipher;
pub mod messages;
pub mod profile;
pub mod rng;
pub mod sec1;
pub mod sec2;
pub mod srp;

pub use cipher::{Cipher, Ctr, Gcm};
pub use profile::Profile;
pub use rng::{ClientRng, FixedRng, OsRng, SeededRng};
pub use sec1::Sec1Client;
pub use sec2::Sec2Client;

/// Everything that can go wrong while the client interprets device bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The device answered with no bytes at all.
    #[error("an empty answer where {what} was expected")]
    Empty {
        /// The message that was expected.
        what: &'static str,
    },
    /// The bytes are not a valid protobuf message of the expected type.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// The message that was being decoded (e.g. `SessionData (Response0)`).
        what: &'static str,
        /// The decoder's explanation.
        reason: String,
    },
    /// The message decoded, but is not the one the protocol step expects (wrong `sec_ver`, wrong
    /// `msg`, wrong oneof member, missing payload).
    #[error("unexpected message in {what}: expected {expected}, got {got}")]
    UnexpectedMessage {
        /// The protocol step or message being checked.
        what: &'static str,
        /// What the step expects.
        expected: String,
        /// What the device sent.
        got: String,
    },
    /// The device answered with a non-`Success` status where success was required.
    #[error("{what}: device reported status {status}")]
    DeviceStatus {
        /// The response carrying the status.
        what: &'static str,
        /// The raw `Status` value.
        status: i32,
    },
    /// A field or buffer has the wrong length.
    #[error("{what} has {got} bytes, expected {expected}")]
    BadLength {
        /// The field or buffer.
        what: &'static str,
        /// The accepted length(s), in words.
        expected: &'static str,
        /// The length received.
        got: usize,
    },
    /// Security 1: the device's verify data does not decrypt to the client's public key
    /// (the device derived another key: wrong PoP on its side, or wrong keystream position).
    #[error("Security 1: device verify data does not match the client public key")]
    DeviceVerifyMismatch,
    /// Security 2: the device proof is not `H(A ‖ M ‖ K)` for the client's K.
    #[error("Security 2: device proof (HAMK) does not match")]
    DeviceProofMismatch,
    /// Decryption failed (GCM authentication, or input shorter than the tag).
    #[error("decryption failed: {0}")]
    Decrypt(&'static str),
    /// A handshake method was called out of order (e.g. `finish` before `command1`).
    #[error("handshake step out of order: {0}")]
    OutOfOrder(&'static str),
    /// The device's public value is unusable (e.g. SRP `B ≡ 0 mod N`, or `u = 0`).
    #[error("invalid device public value: {0}")]
    InvalidDeviceKey(&'static str),
}

/// A handshake in progress, whatever the scheme (convenience for code that drives all three).
pub enum Handshake {
    /// Security 0: no handshake state ([`messages::sec0_command`] is the whole exchange).
    Sec0,
    /// Security 1.
    Sec1(Box<Sec1Client>),
    /// Security 2.
    Sec2(Box<Sec2Client>),
}

impl Handshake {
    /// The scheme number (0, 1 or 2).
    pub fn sec_ver(&self) -> u8 {
        match self {
            Self::Sec0 => 0,
            Self::Sec1(_) => 1,
            Self::Sec2(_) => 2,
        }
    }

    /// What this handshake derived that must stay secret: Security 1's shared secret and AES key,
    /// Security 2's `K` and its AES half. For key logs (`PROVLAB_KEYLOG`, like `SSLKEYLOGFILE`) that
    /// a secret scan checks logs and reports against; never print them.
    pub fn session_secrets(&self) -> Vec<Vec<u8>> {
        match self {
            Self::Sec0 => Vec::new(),
            Self::Sec1(c) => [c.shared_secret(), c.session_key()]
                .into_iter()
                .flatten()
                .map(|k| k.to_vec())
                .collect(),
            Self::Sec2(c) => c
                .session_key()
                .map(|k| vec![k.to_vec(), k[..32].to_vec()])
                .unwrap_or_default(),
        }
    }

    /// The first handshake request (Command0, or the Security 0 session command).
    pub fn command0(&self) -> Vec<u8> {
        match self {
            Self::Sec0 => messages::sec0_command(),
            Self::Sec1(c) => c.command0(),
            Self::Sec2(c) => c.command0(),
        }
    }

    /// Answer Response0: `Ok(Some(command1))` for Security 1/2, `Ok(None)` for Security 0 (whose
    /// response is only checked).
    pub fn command1(&mut self, response0: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        match self {
            Self::Sec0 => {
                messages::decode_sec0_response(response0)?;
                Ok(None)
            }
            Self::Sec1(c) => c.command1(response0).map(Some),
            Self::Sec2(c) => c.command1(response0).map(Some),
        }
    }

    /// Check Response1 and return the data-phase cipher. For Security 0 `response1` is ignored and
    /// the cipher is [`Cipher::Plain`]; `sec_patch_ver` only matters for Security 2.
    pub fn finish(&mut self, response1: &[u8], sec_patch_ver: u8) -> Result<Cipher, ClientError> {
        match self {
            Self::Sec0 => Ok(Cipher::Plain),
            Self::Sec1(c) => c.finish(response1),
            Self::Sec2(c) => c.finish(response1, sec_patch_ver),
        }
    }

    /// The whole handshake: `exchange(body, note)` sends one `prov-session` request and returns the
    /// device's response (`note` names the message: `SessionCommand0`, `SessionCommand1`). Returns the
    /// data-phase cipher.
    pub fn run<E>(
        &mut self,
        sec_patch_ver: u8,
        mut exchange: impl FnMut(&[u8], &'static str) -> Result<Vec<u8>, E>,
    ) -> Result<Cipher, HandshakeError<E>> {
        let r0 = exchange(&self.command0(), "SessionCommand0").map_err(HandshakeError::Exchange)?;
        let r1 = match self.command1(&r0)? {
            None => r0,
            Some(c1) => exchange(&c1, "SessionCommand1").map_err(HandshakeError::Exchange)?,
        };
        Ok(self.finish(&r1, sec_patch_ver)?)
    }
}

/// Why [`Handshake::run`] stopped: the exchange failed, or the device's answer did not check out.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError<E> {
    /// The exchange itself failed (no response, link error …).
    #[error("{0}")]
    Exchange(E),
    /// The device's answer is wrong.
    #[error("client: {0}")]
    Client(#[from] ClientError),
}

/// Decode `bytes` as `M`, mapping the error to [`ClientError::Decode`] with `what` as context.
pub(crate) fn decode<M: prost::Message + Default>(
    what: &'static str,
    bytes: &[u8],
) -> Result<M, ClientError> {
    // An empty answer decodes as a message of defaults (msg 0): name it for what it is.
    if bytes.is_empty() {
        return Err(ClientError::Empty { what });
    }
    M::decode(bytes).map_err(|e| ClientError::Decode {
        what,
        reason: e.to_string(),
    })
}

/// Copy `bytes` into a fixed array, or [`ClientError::BadLength`].
pub(crate) fn fixed<const L: usize>(
    what: &'static str,
    expected: &'static str,
    bytes: &[u8],
) -> Result<[u8; L], ClientError> {
    bytes.try_into().map_err(|_| ClientError::BadLength {
        what,
        expected,
        got: bytes.len(),
    })
}

#[cfg(test)]
pub(crate) mod test_vectors {
    //! Helpers for reading the golden vectors in unit tests.

    use serde_json::Value;

    /// `sec1_full_flow.json`.
    pub(crate) const SEC1_FULL_FLOW: &str =
        include_str!("../../vectors/esp-idf/sec1_full_flow.json");
    /// `sec1_wrong_pop.json`.
    pub(crate) const SEC1_WRONG_POP: &str =
        include_str!("../../vectors/esp-idf/sec1_wrong_pop.json");
    /// `sec2_full_flow.json`.
    pub(crate) const SEC2_FULL_FLOW: &str =
        include_str!("../../vectors/esp-idf/sec2_full_flow.json");
    /// `sec2_wrong_password.json`.
    pub(crate) const SEC2_WRONG_PASSWORD: &str =
        include_str!("../../vectors/esp-idf/sec2_wrong_password.json");
    /// `sec2_short_device_pubkey.json`.
    pub(crate) const SEC2_SHORT_B: &str =
        include_str!("../../vectors/esp-idf/sec2_short_device_pubkey.json");

    pub(crate) fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    pub(crate) fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(char::is_whitespace, "")).unwrap()
    }

    /// The request steps (directives skipped).
    pub(crate) fn steps(v: &Value) -> Vec<&Value> {
        v["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s.get("endpoint").is_some())
            .collect()
    }

    /// The `prov-session` request steps.
    pub(crate) fn session_steps(v: &Value) -> Vec<&Value> {
        steps(v)
            .into_iter()
            .filter(|s| s["endpoint"] == "prov-session")
            .collect()
    }

    pub(crate) fn field(step: &Value, name: &str) -> Option<Vec<u8>> {
        step.get(name).and_then(Value::as_str).map(h)
    }

    /// The `n`-th client secret.
    pub(crate) fn secret(v: &Value, n: usize) -> [u8; 32] {
        h(v["inputs"]["client_secrets"][n]["hex"].as_str().unwrap())
            .try_into()
            .unwrap()
    }
}
