//! SRP-6a over the RFC 5054 3072-bit group with SHA-512, exactly as ESP-IDF's `esp_srp` computes it
//! (spec §3.4.1–3.4.3): `k = H(N ‖ PAD(g))`, `u = H(PAD(A) ‖ PAD(B))`, `K = H(minimal(S))`,
//! `M = H(H(N) ⊕ H(PAD(g)) ‖ H(I) ‖ s ‖ A ‖ B ‖ K)` with A, B as exchanged, `HAMK = H(A ‖ M ‖ K)`.
//!
//! The arithmetic uses `num-bigint`, which is not constant-time: acceptable for a simulator whose
//! secrets are test credentials, and documented in ARCHITECTURE.md. Both the device and the client side
//! live here because the conformance client and the tests need the same formulas.

use std::sync::OnceLock;

use num_bigint::BigUint;
use num_traits::Zero;
use sha2::{Digest, Sha512};

/// Length of N in bytes; `PAD()` pads to it.
pub const N_LEN: usize = 384;

const N_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD",
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F",
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510",
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C",
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
);

/// The group constants, computed once.
pub struct Group {
    /// The safe prime N.
    pub n: BigUint,
    /// The generator g = 5.
    pub g: BigUint,
    /// The multiplier k = H(N ‖ PAD(g)).
    pub k: BigUint,
}

/// The RFC 5054 3072-bit group.
pub fn group() -> &'static Group {
    static GROUP: OnceLock<Group> = OnceLock::new();
    GROUP.get_or_init(|| {
        // The constant is valid hex by construction; parsing it cannot fail.
        let n = BigUint::parse_bytes(N_HEX.as_bytes(), 16).unwrap_or_default();
        let g = BigUint::from(5u32);
        let k = BigUint::from_bytes_be(&hash(&[&pad(&n), &pad(&g)]));
        Group { n, g, k }
    })
}

/// SHA-512 over the concatenation of `parts`.
pub fn hash(parts: &[&[u8]]) -> [u8; 64] {
    let mut h = Sha512::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Left-pad to 384 bytes (values are always < N here, so they fit).
pub fn pad(x: &BigUint) -> Vec<u8> {
    let bytes = x.to_bytes_be();
    let mut out = vec![0u8; N_LEN.saturating_sub(bytes.len())];
    out.extend_from_slice(&bytes);
    out
}

/// Minimal big-endian encoding (no leading zero bytes; zero encodes as empty, as Mbed TLS writes it).
pub fn minimal(x: &BigUint) -> Vec<u8> {
    if x.is_zero() {
        Vec::new()
    } else {
        x.to_bytes_be()
    }
}

/// `x = H(s ‖ H(I ‖ ":" ‖ p))`.
pub fn private_key(salt: &[u8], username: &[u8], password: &[u8]) -> BigUint {
    let inner = hash(&[username, b":", password]);
    BigUint::from_bytes_be(&hash(&[salt, &inner]))
}

/// The verifier `v = g^x mod N`, minimal big-endian, as the device is provisioned with it.
pub fn verifier(salt: &[u8], username: &[u8], password: &[u8]) -> Vec<u8> {
    let grp = group();
    minimal(&grp.g.modpow(&private_key(salt, username, password), &grp.n))
}

/// Device: `B = (k·v + g^b) mod N`.
pub fn device_public(v: &BigUint, b: &BigUint) -> BigUint {
    let grp = group();
    (&grp.k * v + grp.g.modpow(b, &grp.n)) % &grp.n
}

/// `u = H(PAD(A) ‖ PAD(B))`; A and B are taken as big-endian integers, whatever their encoded length.
pub fn scrambler(a_pub: &BigUint, b_pub: &BigUint) -> BigUint {
    BigUint::from_bytes_be(&hash(&[&pad(a_pub), &pad(b_pub)]))
}

/// Device: `S = (A·v^u)^b mod N`.
pub fn device_premaster(a_pub: &BigUint, v: &BigUint, u: &BigUint, b: &BigUint) -> BigUint {
    let grp = group();
    ((a_pub * v.modpow(u, &grp.n)) % &grp.n).modpow(b, &grp.n)
}

/// Client: `A = g^a mod N`.
pub fn client_public(a: &BigUint) -> BigUint {
    let grp = group();
    grp.g.modpow(a, &grp.n)
}

/// Client: `S = (B − k·g^x)^(a + u·x) mod N`.
pub fn client_premaster(b_pub: &BigUint, x: &BigUint, a: &BigUint, u: &BigUint) -> BigUint {
    let grp = group();
    let kgx = (&grp.k * grp.g.modpow(x, &grp.n)) % &grp.n;
    let base = (b_pub + &grp.n - kgx) % &grp.n;
    base.modpow(&(a + u * x), &grp.n)
}

/// `K = H(minimal(S))`.
pub fn session_key(s: &BigUint) -> [u8; 64] {
    hash(&[&minimal(s)])
}

/// `M = H(H(N) ⊕ H(PAD(g)) ‖ H(I) ‖ s ‖ A ‖ B ‖ K)` with `a_bytes`/`b_bytes` exactly as exchanged.
pub fn client_proof(
    username: &[u8],
    salt: &[u8],
    a_bytes: &[u8],
    b_bytes: &[u8],
    key: &[u8; 64],
) -> [u8; 64] {
    let grp = group();
    let hn = hash(&[&pad(&grp.n)]);
    let hg = hash(&[&pad(&grp.g)]);
    let mut x = [0u8; 64];
    for (i, b) in x.iter_mut().enumerate() {
        *b = hn[i] ^ hg[i];
    }
    hash(&[&x, &hash(&[username]), salt, a_bytes, b_bytes, key])
}

/// `HAMK = H(A ‖ M ‖ K)`.
pub fn device_proof(a_bytes: &[u8], m: &[u8; 64], key: &[u8; 64]) -> [u8; 64] {
    hash(&[a_bytes, m, key])
}

#[cfg(test)]
mod tests {
    //! Known-answer values of spec §3.4.5.
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(char::is_whitespace, "")).unwrap()
    }
    fn seq(from: u8, to: u8) -> Vec<u8> {
        (from..=to).collect()
    }

    const SALT: &str = "036ee0c7bcb9eda84c9eac97d93decf4";

    #[test]
    fn kat_k_and_x() {
        assert_eq!(
            group().k.to_bytes_be(),
            h("a9c2e2559bf0ebb53f0cbbf62282906bede7f2182f00678211fbd5bde5b285033a4993503b87397f9be5ec02080fedbc0835587ad039060879b8621e8c3659e0")
        );
        assert_eq!(
            private_key(&h(SALT), b"wifiprov", b"abcd1234").to_bytes_be(),
            h("869b97a7399bdc2e9e2943dbf1f5347a10108ea60e278cafb5849aa0c14f6b735aa186d260e779838af03d4393961086dabe3321c01c58672f186b698f83314a")
        );
    }

    #[test]
    fn kat_full_exchange() {
        let salt = h(SALT);
        let v = BigUint::from_bytes_be(&verifier(&salt, b"wifiprov", b"abcd1234"));
        let a = BigUint::from_bytes_be(&seq(0x11, 0x30));
        let b = BigUint::from_bytes_be(&seq(0x52, 0x71));
        let a_pub = client_public(&a);
        let b_pub = device_public(&v, &b);
        let u = scrambler(&a_pub, &b_pub);
        assert_eq!(
            u.to_bytes_be(),
            h("5c470c6246ff1a9decfab04285e5122227f6a5e8b2437067b16a184af135fe74d7d66ba5f6a8f97d95a9472b0e2055fc13f1244a6580ca14f1197177db7cbb6d")
        );
        let s_dev = device_premaster(&a_pub, &v, &u, &b);
        let x = private_key(&salt, b"wifiprov", b"abcd1234");
        assert_eq!(s_dev, client_premaster(&b_pub, &x, &a, &u));
        assert!(pad(&s_dev).starts_with(&h("b355b76a31cf4c7f14168afcebfb3f29")));
        let key = session_key(&s_dev);
        assert_eq!(
            key.to_vec(),
            h("37678a910e52ccd4a5081d23048e954b20ec13d8ec7c961359f0c747a379f35552655889510b5312163e1a6f7504b8b77805887a79940a2d620c665eb2c81789")
        );
        let m = client_proof(b"wifiprov", &salt, &pad(&a_pub), &minimal(&b_pub), &key);
        assert_eq!(
            m.to_vec(),
            h("70dc203ec3b667d829655c8eafd02a2993f193856d09865b8d25965e454aff6387a1de3efadfa5f7e5bc82330774c45da9a24b6391a0f67ee60f441480510234")
        );
        assert_eq!(
            device_proof(&pad(&a_pub), &m, &key).to_vec(),
            h("d846a8db2348d9cd5c1708f69382762a4df977ef3f3e8c4e28e2ba6e653baf8a43af7eb00fcd7e3d48883f5acff55df933c7a2c732a21cf3da8151aee44781cb")
        );
        assert!(pad(&a_pub).starts_with(&h("c5da6c7464fe83c3942ba7a86cc0ae72")));
        assert!(pad(&b_pub).starts_with(&h("8a18b16d9968ba9137c15cd81defc253")));
    }
}
