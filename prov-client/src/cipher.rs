//! Data-phase ciphers of an established session (spec §3.3 "Data phase", §3.4.4).
//!
//! - Security 0: [`Cipher::Plain`].
//! - Security 1: [`Ctr`], AES-256-CTR with **one** keystream for both directions: every encryption
//!   (request) and decryption (response) consumes the next bytes of the same stream, byte-granular,
//!   starting at position 64 after the handshake.
//! - Security 2: [`Gcm`], AES-256-GCM, tag appended. Patch 1: IV = 8-byte prefix ‖ BE32(counter),
//!   one counter shared by both directions, advanced after every successful operation and *not*
//!   after a failed decryption. Patch 0: the 16-byte device nonce is the IV of every message.
//!
//! Both keep diagnostics for negative cases: the CTR stream can be positioned anywhere, and a GCM
//! message can be opened with an explicit counter or IV without touching the session state.

use std::fmt;

use aes::Aes256;
use aes_gcm::aead::consts::U16;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, AesGcm};
use ctr::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};

use super::ClientError;

/// AES-256-GCM with a 16-byte IV (Security 2 patch 0).
type Aes256Gcm16 = AesGcm<aes_gcm::aes::Aes256, U16>;

/// Length of the GCM tag appended to every Security 2 message.
pub const GCM_TAG_LEN: usize = 16;

/// The data-phase cipher of an established session.
pub enum Cipher {
    /// Security 0: bytes pass unchanged.
    Plain,
    /// Security 1: AES-256-CTR, one stream for both directions.
    Ctr(Box<Ctr>),
    /// Security 2: AES-256-GCM.
    Gcm(Box<Gcm>),
}

impl Cipher {
    /// Encrypt a request (advances the CTR stream / the GCM counter).
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Vec<u8> {
        match self {
            Self::Plain => plaintext.to_vec(),
            Self::Ctr(c) => c.encrypt(plaintext),
            Self::Gcm(g) => g.encrypt(plaintext),
        }
    }

    /// Decrypt a response. CTR always "succeeds" (it cannot detect garbage); GCM fails on a bad tag
    /// or a message shorter than the tag, and then leaves its counter unchanged.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, ClientError> {
        match self {
            Self::Plain => Ok(ciphertext.to_vec()),
            Self::Ctr(c) => Ok(c.decrypt(ciphertext)),
            Self::Gcm(g) => g.decrypt(ciphertext),
        }
    }

    /// The Security 2 patch-1 counter the next operation will use (`None` for other ciphers).
    pub fn sec2_counter(&self) -> Option<u32> {
        match self {
            Self::Gcm(g) => g.counter(),
            _ => None,
        }
    }

    /// The device decrypted `len` bytes the client did not encrypt (recorded or garbage ciphertext):
    /// a Security 1 keystream moves on by `len`, as the device's did; a Security 2 counter stays (the
    /// device's GCM check failed, and a failed decryption never advances it).
    pub fn skip_foreign(&mut self, len: usize) {
        if let Self::Ctr(c) = self {
            c.skip(len as u64);
        }
    }

    /// The Security 1 keystream position (`None` for other ciphers).
    pub fn ctr_position(&self) -> Option<u64> {
        match self {
            Self::Ctr(c) => Some(c.position()),
            _ => None,
        }
    }

    /// The scheme this cipher belongs to (0, 1 or 2).
    pub fn sec_ver(&self) -> u8 {
        match self {
            Self::Plain => 0,
            Self::Ctr(_) => 1,
            Self::Gcm(_) => 2,
        }
    }
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plain => f.write_str("Plain"),
            Self::Ctr(c) => f.debug_tuple("Ctr").field(c).finish(),
            Self::Gcm(g) => f.debug_tuple("Gcm").field(g).finish(),
        }
    }
}

/// AES-256-CTR keystream (Security 1): 16-byte initial counter block incremented as a 128-bit
/// big-endian integer per block, consumed byte by byte by both directions.
#[derive(Clone)]
pub struct Ctr {
    stream: ctr::Ctr128BE<Aes256>,
    position: u64,
}

impl Ctr {
    /// A stream at position 0 for `key` with initial counter block `iv` (Security 1: `device_random`).
    pub fn new(key: &[u8; 32], iv: &[u8; 16]) -> Self {
        Self {
            stream: ctr::Ctr128BE::<Aes256>::new(key.into(), iv.into()),
            position: 0,
        }
    }

    /// XOR the next `data.len()` keystream bytes into `data`.
    pub fn apply(&mut self, data: &mut [u8]) {
        self.stream.apply_keystream(data);
        self.position += data.len() as u64;
    }

    /// Encrypt (consumes `plaintext.len()` keystream bytes).
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Vec<u8> {
        let mut out = plaintext.to_vec();
        self.apply(&mut out);
        out
    }

    /// Decrypt (identical to [`Ctr::encrypt`]; named for readability).
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Vec<u8> {
        self.encrypt(ciphertext)
    }

    /// Current keystream position in bytes (64 right after a Security 1 handshake).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Move to keystream byte `position` (e.g. to follow a device whose counter drifted, or to
    /// deliberately desynchronise).
    pub fn seek(&mut self, position: u64) {
        self.stream.seek(position);
        self.position = position;
    }

    /// Skip `n` keystream bytes (as if a message of that length had been processed).
    pub fn skip(&mut self, n: u64) {
        self.seek(self.position + n);
    }

    /// `len` keystream bytes starting at `offset`, without moving this stream.
    pub fn keystream_at(&self, offset: u64, len: usize) -> Vec<u8> {
        let mut probe = self.clone();
        probe.seek(offset);
        let mut out = vec![0u8; len];
        probe.apply(&mut out);
        out
    }

    /// Decrypt `ciphertext` as if it started at keystream byte `offset`, without moving this stream.
    pub fn decrypt_at(&self, offset: u64, ciphertext: &[u8]) -> Vec<u8> {
        let mut probe = self.clone();
        probe.seek(offset);
        probe.decrypt(ciphertext)
    }
}

impl fmt::Debug for Ctr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctr")
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

/// How a [`Gcm`] cipher forms its IV.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GcmIv {
    /// Patch 1: `prefix ‖ BE32(counter)`; `counter` is the value the next operation uses.
    Counter {
        /// The device's 8 random nonce bytes.
        prefix: [u8; 8],
        /// Counter for the next operation.
        counter: u32,
    },
    /// Patch 0 (legacy nonce reuse): the same IV (12 or 16 bytes) for every message.
    Fixed(Vec<u8>),
}

/// AES-256-GCM (Security 2) with key `K[0..32]`.
#[derive(Clone)]
pub struct Gcm {
    key: [u8; 32],
    iv: GcmIv,
}

impl Gcm {
    /// Patch 1: `device_nonce` must be 12 bytes; the counter starts at its last four bytes
    /// (big-endian; 1 on a conforming device).
    pub fn patch1(key: [u8; 32], device_nonce: &[u8]) -> Result<Self, ClientError> {
        let nonce: [u8; 12] = super::fixed("device_nonce (patch 1)", "12", device_nonce)?;
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&nonce[..8]);
        let counter = u32::from_be_bytes([nonce[8], nonce[9], nonce[10], nonce[11]]);
        Ok(Self {
            key,
            iv: GcmIv::Counter { prefix, counter },
        })
    }

    /// Patch 0: `device_nonce` (16 bytes on a legacy device; 12 accepted to emulate a patch-0
    /// client talking to a patch-1 device) is the IV of every message.
    pub fn patch0(key: [u8; 32], device_nonce: &[u8]) -> Result<Self, ClientError> {
        check_iv_len("device_nonce (patch 0)", device_nonce)?;
        Ok(Self {
            key,
            iv: GcmIv::Fixed(device_nonce.to_vec()),
        })
    }

    /// [`Gcm::patch0`] when `sec_patch_ver` is 0, else [`Gcm::patch1`] (as esp_prov selects it).
    pub fn for_patch(
        key: [u8; 32],
        device_nonce: &[u8],
        sec_patch_ver: u8,
    ) -> Result<Self, ClientError> {
        if sec_patch_ver == 0 {
            Self::patch0(key, device_nonce)
        } else {
            Self::patch1(key, device_nonce)
        }
    }

    /// The IV rule and its current state.
    pub fn iv_rule(&self) -> &GcmIv {
        &self.iv
    }

    /// The counter the next operation will use (`None` for patch 0).
    pub fn counter(&self) -> Option<u32> {
        match self.iv {
            GcmIv::Counter { counter, .. } => Some(counter),
            GcmIv::Fixed(_) => None,
        }
    }

    /// Force the counter (patch 1 only; ignored for patch 0), e.g. to replay or skip a value.
    pub fn set_counter(&mut self, value: u32) {
        if let GcmIv::Counter { counter, .. } = &mut self.iv {
            *counter = value;
        }
    }

    /// The 8-byte nonce prefix (patch 1 only).
    pub fn nonce_prefix(&self) -> Option<[u8; 8]> {
        match self.iv {
            GcmIv::Counter { prefix, .. } => Some(prefix),
            GcmIv::Fixed(_) => None,
        }
    }

    /// The IV patch 1 uses for `counter` (`None` for patch 0).
    pub fn iv_for_counter(&self, counter: u32) -> Option<[u8; 12]> {
        let prefix = self.nonce_prefix()?;
        let mut iv = [0u8; 12];
        iv[..8].copy_from_slice(&prefix);
        iv[8..].copy_from_slice(&counter.to_be_bytes());
        Some(iv)
    }

    /// The IV the next operation will use.
    pub fn current_iv(&self) -> Vec<u8> {
        match &self.iv {
            GcmIv::Counter { prefix, counter } => {
                [prefix.as_slice(), &counter.to_be_bytes()].concat()
            }
            GcmIv::Fixed(iv) => iv.clone(),
        }
    }

    fn advance(&mut self) {
        if let GcmIv::Counter { counter, .. } = &mut self.iv {
            *counter = counter.wrapping_add(1);
        }
    }

    /// Encrypt a request with the current IV (ciphertext ‖ 16-byte tag), then advance the counter.
    ///
    /// # Panics
    /// Only if `plaintext` exceeds GCM's 64 GiB limit.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Vec<u8> {
        let iv = self.current_iv();
        // The IV length was validated at construction, so only an oversized input can fail.
        let out = self
            .seal_with_iv(&iv, plaintext)
            .expect("AES-GCM input within limits");
        self.advance();
        out
    }

    /// Decrypt a response with the current IV; advances the counter only on success.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, ClientError> {
        let iv = self.current_iv();
        let out = self.open_with_iv(&iv, ciphertext)?;
        self.advance();
        Ok(out)
    }

    /// Encrypt with an explicit IV (12 or 16 bytes) without touching the session state.
    pub fn seal_with_iv(&self, iv: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, ClientError> {
        check_iv_len("GCM IV", iv)?;
        let key = GenericArray::from_slice(&self.key);
        let res = if iv.len() == 12 {
            Aes256Gcm::new(key).encrypt(GenericArray::from_slice(iv), plaintext)
        } else {
            Aes256Gcm16::new(key).encrypt(GenericArray::from_slice(iv), plaintext)
        };
        res.map_err(|_| ClientError::BadLength {
            what: "GCM plaintext",
            expected: "at most 64 GiB",
            got: plaintext.len(),
        })
    }

    /// Decrypt with an explicit IV (12 or 16 bytes) without touching the session state.
    pub fn open_with_iv(&self, iv: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, ClientError> {
        check_iv_len("GCM IV", iv)?;
        if ciphertext.len() < GCM_TAG_LEN {
            return Err(ClientError::BadLength {
                what: "GCM ciphertext",
                expected: "at least 16 (the tag)",
                got: ciphertext.len(),
            });
        }
        let key = GenericArray::from_slice(&self.key);
        let res = if iv.len() == 12 {
            Aes256Gcm::new(key).decrypt(GenericArray::from_slice(iv), ciphertext)
        } else {
            Aes256Gcm16::new(key).decrypt(GenericArray::from_slice(iv), ciphertext)
        };
        res.map_err(|_| ClientError::Decrypt("GCM authentication failed"))
    }

    /// Encrypt as patch 1 would with `counter`, without touching the session state
    /// (`None` for patch 0).
    pub fn encrypt_with_counter(&self, plaintext: &[u8], counter: u32) -> Option<Vec<u8>> {
        let iv = self.iv_for_counter(counter)?;
        self.seal_with_iv(&iv, plaintext).ok()
    }

    /// Try to open `ciphertext` as patch 1 would with `counter`, without touching the session state.
    /// `None` when it does not authenticate (or for patch 0).
    pub fn try_decrypt_with_counter(&self, ciphertext: &[u8], counter: u32) -> Option<Vec<u8>> {
        let iv = self.iv_for_counter(counter)?;
        self.open_with_iv(&iv, ciphertext).ok()
    }

    /// The first counter in `candidates` under which `ciphertext` authenticates: tells "the device
    /// reused / skipped a nonce" (some nearby counter works) apart from garbage (none does).
    pub fn find_counter(
        &self,
        ciphertext: &[u8],
        candidates: impl IntoIterator<Item = u32>,
    ) -> Option<u32> {
        candidates
            .into_iter()
            .find(|&c| self.try_decrypt_with_counter(ciphertext, c).is_some())
    }
}

impl fmt::Debug for Gcm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gcm")
            .field("iv", &self.iv)
            .finish_non_exhaustive()
    }
}

fn check_iv_len(what: &'static str, iv: &[u8]) -> Result<(), ClientError> {
    match iv.len() {
        12 | 16 => Ok(()),
        got => Err(ClientError::BadLength {
            what,
            expected: "12 or 16",
            got,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::h;

    // Spec §3.4.5 (Security 2 patch 1 KAT).
    const K: &str = "37678a910e52ccd4a5081d23048e954b20ec13d8ec7c961359f0c747a379f355";

    fn kat_gcm() -> Gcm {
        Gcm::patch1(h(K).try_into().unwrap(), &h("010203040506070800000001")).unwrap()
    }

    #[test]
    fn gcm_patch1_kat_and_shared_counter() {
        let mut c = Cipher::Gcm(Box::new(kat_gcm()));
        assert_eq!(c.sec2_counter(), Some(1));
        assert_eq!(
            c.encrypt(&h("5200")),
            h("d1c3f2a433e27f5531e7e2c7d671ae94130c")
        );
        assert_eq!(c.sec2_counter(), Some(2));
        let resp = h("402018827bc1e42b9c2f075ca2d30b024a1a9141209c");
        // A bad tag does not advance the counter.
        let mut bad = resp.clone();
        bad[0] ^= 1;
        assert!(matches!(c.decrypt(&bad), Err(ClientError::Decrypt(_))));
        assert!(matches!(
            c.decrypt(&[0; 15]),
            Err(ClientError::BadLength { .. })
        ));
        assert_eq!(c.sec2_counter(), Some(2));
        assert_eq!(c.decrypt(&resp).unwrap(), h("08015a021001"));
        assert_eq!(c.sec2_counter(), Some(3));
    }

    #[test]
    fn gcm_diagnostics() {
        let g = kat_gcm();
        let resp = h("402018827bc1e42b9c2f075ca2d30b024a1a9141209c");
        assert_eq!(g.try_decrypt_with_counter(&resp, 1), None);
        assert_eq!(
            g.try_decrypt_with_counter(&resp, 2).unwrap(),
            h("08015a021001")
        );
        assert_eq!(g.find_counter(&resp, 0..10), Some(2));
        assert_eq!(
            g.find_counter(&h("00112233445566778899aabbccddeeff00"), 0..10),
            None
        );
        assert_eq!(
            g.encrypt_with_counter(&h("5200"), 1).unwrap(),
            h("d1c3f2a433e27f5531e7e2c7d671ae94130c")
        );
        // Diagnostics leave the state alone.
        assert_eq!(g.counter(), Some(1));
    }

    #[test]
    fn gcm_patch0_kat() {
        let iv: Vec<u8> = (0xc0..=0xcf).collect();
        let mut g = Gcm::for_patch(h(K).try_into().unwrap(), &iv, 0).unwrap();
        let ct = h("08f05483a21e82893452aae677dece7add13");
        assert_eq!(g.encrypt(&h("5200")), ct);
        // Same IV again for the next message: nonce reuse.
        assert_eq!(g.encrypt(&h("5200")), ct);
        assert_eq!(g.decrypt(&ct).unwrap(), h("5200"));
        assert_eq!(g.counter(), None);
        assert!(Gcm::patch0([0; 32], &[0; 8]).is_err());
        assert!(Gcm::patch1([0; 32], &[0; 16]).is_err());
    }

    #[test]
    fn ctr_sec1_kat_stream_positions() {
        // Spec §3.3 KAT: AES key and device_random; data phase starts at keystream byte 64.
        let key: [u8; 32] = h("cf0c266562b0ebf4d1295c66cc5efceab8fa713f8cb6024932f3bbf59977a8cd")
            .try_into()
            .unwrap();
        let iv: [u8; 16] = h("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf").try_into().unwrap();
        let mut c = Ctr::new(&key, &iv);
        c.skip(64);
        let probe = c.keystream_at(64, 2);
        let mut cipher = Cipher::Ctr(Box::new(c));
        assert_eq!(cipher.encrypt(&h("5200")), h("018f"));
        assert_eq!(
            [probe[0] ^ 0x52, probe[1]],
            [0x01, 0x8f],
            "keystream_at agrees with the stream"
        );
        assert_eq!(
            cipher.decrypt(&h("bd7e870688b4")).unwrap(),
            h("08015a021001")
        );
        assert_eq!(
            cipher.encrypt(&h("080262140a066d7973736964120a6d7970617373776f7264")),
            h("f0daa21132f8dd0120634d6e556a6b68dbc06cfa009c3c1b")
        );
        assert_eq!(cipher.ctr_position(), Some(96));
        assert_eq!(cipher.sec2_counter(), None);
    }

    #[test]
    fn ctr_wraps_128_bit_counter() {
        // An all-ones counter block wraps to zero (mbedTLS behaviour), without panicking.
        let mut c = Ctr::new(&[7; 32], &[0xff; 16]);
        let a = c.encrypt(&[0u8; 32]);
        let b = Ctr::new(&[7; 32], &[0; 16]).encrypt(&[0u8; 16]);
        assert_eq!(a[16..], b[..]);
    }
}
