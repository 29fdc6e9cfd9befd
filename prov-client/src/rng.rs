//! Client randomness as an input: the X25519 private key (Security 1) and the SRP secret `a`
//! (Security 2) come from a [`ClientRng`], so a run can reproduce a golden vector byte for byte
//! ([`SeededRng`]), use fixed secrets ([`FixedRng`]) or real randomness ([`OsRng`]).

use sha2::{Digest, Sha256};

/// A source of client randomness.
pub trait ClientRng: Send {
    /// Fill `out` with random bytes.
    fn fill(&mut self, out: &mut [u8]);
}

impl<R: ClientRng + ?Sized> ClientRng for &mut R {
    fn fill(&mut self, out: &mut [u8]) {
        (**self).fill(out);
    }
}

impl<R: ClientRng + ?Sized> ClientRng for Box<R> {
    fn fill(&mut self, out: &mut [u8]) {
        (**self).fill(out);
    }
}

/// The golden vectors' client stream: `SHA-256(seed ‖ be64(0)) ‖ SHA-256(seed ‖ be64(1)) ‖ …`
/// (`inputs.client_seed_hex`, `inputs.client_rng`). Reproducible, not secret.
#[derive(Clone, Debug)]
pub struct SeededRng {
    seed: Vec<u8>,
    next_block: u64,
    block: [u8; 32],
    used: usize,
    position: u64,
}

impl SeededRng {
    /// A stream over `seed` (raw bytes, e.g. the decoded `client_seed_hex`).
    pub fn new(seed: &[u8]) -> Self {
        Self {
            seed: seed.to_vec(),
            next_block: 0,
            block: [0; 32],
            // Nothing buffered yet: the first draw computes block 0.
            used: 32,
            position: 0,
        }
    }

    /// How many bytes have been handed out so far.
    pub fn position(&self) -> u64 {
        self.position
    }

    fn refill(&mut self) {
        let mut h = Sha256::new();
        h.update(&self.seed);
        h.update(self.next_block.to_be_bytes());
        self.block = h.finalize().into();
        self.next_block = self.next_block.wrapping_add(1);
        self.used = 0;
    }
}

impl ClientRng for SeededRng {
    fn fill(&mut self, out: &mut [u8]) {
        let mut done = 0;
        while done < out.len() {
            if self.used == self.block.len() {
                self.refill();
            }
            let n = (self.block.len() - self.used).min(out.len() - done);
            out[done..done + n].copy_from_slice(&self.block[self.used..self.used + n]);
            self.used += n;
            done += n;
        }
        self.position += out.len() as u64;
    }
}

/// Operating-system randomness (`getrandom` through `rand_core`), for runs against real devices.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRng;

impl ClientRng for OsRng {
    fn fill(&mut self, out: &mut [u8]) {
        // Panics only if the operating system cannot supply randomness at all.
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, out);
    }
}

/// Hands out the queued bytes first, then continues with a [`SeededRng`], so it never runs dry.
///
/// `FixedRng::new(a.to_vec())` followed by `Sec2Client::from_rng` gives a client with exactly that
/// secret (modulo the scheme's own adjustments, e.g. the top bit of SRP `a`).
#[derive(Clone, Debug)]
pub struct FixedRng {
    queued: Vec<u8>,
    next: usize,
    fallback: SeededRng,
}

impl FixedRng {
    /// Seed of the fallback stream used by [`FixedRng::new`].
    pub const DEFAULT_FALLBACK_SEED: &'static [u8] = b"provlab FixedRng fallback";

    /// Queue `bytes`; afterwards continue with `SeededRng::new(DEFAULT_FALLBACK_SEED)`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self::with_fallback(bytes, Self::DEFAULT_FALLBACK_SEED)
    }

    /// Queue `bytes`; afterwards continue with `SeededRng::new(fallback_seed)`.
    pub fn with_fallback(bytes: Vec<u8>, fallback_seed: &[u8]) -> Self {
        Self {
            queued: bytes,
            next: 0,
            fallback: SeededRng::new(fallback_seed),
        }
    }

    /// Queued bytes not handed out yet.
    pub fn remaining(&self) -> usize {
        self.queued.len() - self.next
    }

    /// Append more bytes to the queue.
    pub fn push(&mut self, bytes: &[u8]) {
        self.queued.extend_from_slice(bytes);
    }
}

impl ClientRng for FixedRng {
    fn fill(&mut self, out: &mut [u8]) {
        let n = self.remaining().min(out.len());
        out[..n].copy_from_slice(&self.queued[self.next..self.next + n]);
        self.next += n;
        if n < out.len() {
            self.fallback.fill(&mut out[n..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::*;

    #[test]
    fn seeded_stream_matches_vector_secret() {
        let v = parse(SEC1_FULL_FLOW);
        let seed = h(v["inputs"]["client_seed_hex"].as_str().unwrap());
        let mut rng = SeededRng::new(&seed);
        let mut key = [0u8; 32];
        rng.fill(&mut key);
        assert_eq!(key, secret(&v, 0));
        assert_eq!(rng.position(), 32);
    }

    #[test]
    fn seeded_stream_is_byte_granular() {
        let mut a = SeededRng::new(b"seed");
        let mut whole = [0u8; 100];
        a.fill(&mut whole);
        let mut b = SeededRng::new(b"seed");
        let mut pieces = Vec::new();
        for len in [1usize, 7, 31, 33, 28] {
            let mut buf = vec![0u8; len];
            b.fill(&mut buf);
            pieces.extend(buf);
        }
        assert_eq!(pieces, whole.to_vec());
    }

    #[test]
    fn fixed_rng_falls_back() {
        let mut r = FixedRng::with_fallback(vec![1, 2, 3], b"fb");
        let mut out = [0u8; 5];
        r.fill(&mut out);
        let mut fb = [0u8; 2];
        SeededRng::new(b"fb").fill(&mut fb);
        assert_eq!(out, [1, 2, 3, fb[0], fb[1]]);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn os_rng_fills() {
        let mut out = [0u8; 64];
        OsRng.fill(&mut out);
        assert!(out.iter().any(|&b| b != 0));
    }
}
