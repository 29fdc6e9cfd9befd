//! Randomness as an input (spec §3; STYLE "Randomness and time are inputs").
//!
//! The core never touches OS randomness. Every draw names its purpose ([`Draw`]) so that a test can inject
//! exactly the values a golden vector records (`derived_device_values`), and so that a seeded stream gives
//! reproducible runs. The binary supplies OS randomness through the same trait.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// What a random draw is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Draw {
    /// Security 1: the device's X25519 private key (32 bytes, raw little-endian scalar).
    Sec1PrivateKey,
    /// Security 1: `device_random`, the AES-CTR initial counter block (16 bytes).
    Sec1DeviceRandom,
    /// Security 2: the SRP secret `b` (32 bytes, big-endian).
    Sec2B,
    /// Security 2 patch 1: the 8 random bytes in front of the 32-bit nonce counter.
    Sec2NoncePrefix,
    /// Security 2 patch 0: the whole 16-byte nonce.
    Sec2Nonce16,
    /// A transport session cookie (HTTP `session=<u32>`), 4 bytes.
    SessionCookie,
}

/// A source of device randomness.
pub trait DeviceRng: Send {
    /// Fill `out` with random bytes for `draw`.
    fn fill(&mut self, draw: Draw, out: &mut [u8]);
}

/// The golden vectors' seeded stream (`SHA-256(seed ‖ be64(0)) ‖ SHA-256(seed ‖ be64(1)) ‖ …`, the
/// construction they use for `esp_fill_random()`) as device randomness, whatever the purpose of the draw.
/// Not secret: for tests and reproducible simulator runs only. One definition, shared with the client.
pub use prov_client::SeededRng;

impl DeviceRng for SeededRng {
    fn fill(&mut self, _draw: Draw, out: &mut [u8]) {
        prov_client::ClientRng::fill(self, out);
    }
}

/// Hands out recorded values per [`Draw`], in order (snow's fixed-key vector tests).
///
/// Cloning shares the state, so a test keeps a handle after giving the device its copy and checks
/// [`RecordedRng::problems`] at the end: a draw with no recorded value, or of another length, is a problem
/// (and gets zeros), because it means the device drew randomness where ESP-IDF did not. The one exception
/// is [`Draw::SessionCookie`]: the recordings were made over the console, which has no cookies, so an HTTP
/// replay's cookies come from a counter (1, 2, …) and are never a problem.
#[derive(Clone, Debug, Default)]
pub struct RecordedRng {
    inner: Arc<Mutex<Recorded>>,
}

#[derive(Debug, Default)]
struct Recorded {
    values: HashMap<Draw, VecDeque<Vec<u8>>>,
    problems: Vec<String>,
    cookies: u32,
}

impl RecordedRng {
    /// An empty recording.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queue `value` as the next answer for `draw`.
    pub fn push(&self, draw: Draw, value: Vec<u8>) {
        self.lock().values.entry(draw).or_default().push_back(value);
    }

    /// Draws that could not be served as recorded.
    pub fn problems(&self) -> Vec<String> {
        self.lock().problems.clone()
    }

    /// How many recorded values were never drawn.
    pub fn remaining(&self) -> usize {
        self.lock().values.values().map(VecDeque::len).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        // A poisoned lock only means another test thread panicked; the data is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl DeviceRng for RecordedRng {
    fn fill(&mut self, draw: Draw, out: &mut [u8]) {
        let mut rec = self.lock();
        if draw == Draw::SessionCookie && !rec.values.contains_key(&draw) {
            rec.cookies = rec.cookies.wrapping_add(1);
            let cookie = rec.cookies.to_le_bytes();
            for (o, b) in out.iter_mut().zip(cookie.iter().cycle()) {
                *o = *b;
            }
            return;
        }
        match rec.values.get_mut(&draw).and_then(VecDeque::pop_front) {
            Some(v) if v.len() == out.len() => out.copy_from_slice(&v),
            Some(v) => {
                rec.problems.push(format!(
                    "{draw:?}: recorded {} bytes, device drew {}",
                    v.len(),
                    out.len()
                ));
                out.fill(0);
            }
            None => {
                rec.problems
                    .push(format!("{draw:?}: no recorded value left"));
                out.fill(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn seeded_stream_matches_the_vector_construction() {
        // First block of the stream for seed 00: SHA-256(00 ‖ be64(0)).
        let mut rng = SeededRng::new(&[0]);
        let mut out = [0u8; 40];
        rng.fill(Draw::SessionCookie, &mut out);
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(0u64.to_be_bytes());
        assert_eq!(&out[..32], h.finalize().as_slice());
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(1u64.to_be_bytes());
        assert_eq!(&out[32..], &h.finalize()[..8]);
    }

    #[test]
    fn recorded_reports_missing_and_misfit_draws() {
        let rec = RecordedRng::new();
        rec.push(Draw::Sec2B, vec![7; 32]);
        let mut dev = rec.clone();
        let mut b = [0u8; 32];
        dev.fill(Draw::Sec2B, &mut b);
        assert_eq!(b, [7; 32]);
        assert!(rec.problems().is_empty());
        dev.fill(Draw::Sec2B, &mut b);
        assert_eq!(rec.problems().len(), 1);
    }
}
