//! SRP-6a as ESP-IDF's `esp_srp` computes it (spec §3.4.1–3.4.3): RFC 5054 3072-bit group, `g = 5`,
//! `H = SHA-512`, `PAD()` = left-pad to 384 bytes.
//!
//! | value | formula | who |
//! |---|---|---|
//! | `k` | `H(N ‖ PAD(g))` | both |
//! | `x` | `H(s ‖ H(I ‖ ":" ‖ p))` | client (and whoever makes the verifier) |
//! | `v` | `g^x mod N`, minimal big-endian | provisioning tool |
//! | `A` | `g^a mod N`, sent as exactly 384 bytes | client |
//! | `B` | `(k·v + g^b) mod N`, minimal big-endian | device (`sim_device`'s `security::srp`) |
//! | `u` | `H(PAD(A) ‖ PAD(B))` | both |
//! | `S` | client `(B − k·g^x)^(a + u·x)`, device `(A·v^u)^b`, mod N | each its own |
//! | `K` | `H(minimal(S))` | both |
//! | `M` | `H((H(N) ⊕ H(PAD(g))) ‖ H(I) ‖ s ‖ A ‖ B ‖ K)`, A/B/s as exchanged | both |
//! | `HAMK` | `H(A ‖ M ‖ K)` | both |
//!
//! The group, `k`, `u` and `HAMK` come from RustCrypto's `srp` crate (its `M` is not RFC 2945's, so
//! `M` is written here). The formulas both sides evaluate live here once: the device core uses them too
//! and keeps only its own `B` and `S`. All byte arguments are big-endian integers or the raw exchanged
//! byte strings, so the functions can be fed deliberately odd values (A = 0, A = N, short B …) for
//! negative cases. Arithmetic uses `num-bigint` (not constant-time; these are test credentials).

use std::sync::OnceLock;

use num_bigint::BigUint;
use num_traits::Zero;
use sha2::{Digest, Sha512};
use srp::groups::G_3072;
use srp::utils::{compute_k, compute_m2, compute_u};

/// Length of N in bytes; `PAD()` pads to it and Command0's `A` must have exactly this length.
pub const N_LEN: usize = 384;

/// The group values the formulas use, computed once.
pub struct Group {
    /// The safe prime N.
    pub n: BigUint,
    /// The generator g = 5.
    pub g: BigUint,
    /// The multiplier `k = H(N ‖ PAD(g))`.
    pub k: BigUint,
    n_bytes: Vec<u8>,
    /// `H(N) ⊕ H(PAD(g))`, the first block of M.
    hn_xor_hg: [u8; 64],
}

/// The RFC 5054 3072-bit group.
pub fn group() -> &'static Group {
    static GROUP: OnceLock<Group> = OnceLock::new();
    GROUP.get_or_init(|| {
        let n_bytes = G_3072.n.to_bytes_be();
        let hn = Sha512::digest(&n_bytes);
        let hg = Sha512::digest(pad(&G_3072.g.to_bytes_be()));
        let mut hn_xor_hg = [0u8; 64];
        for (o, (a, b)) in hn_xor_hg.iter_mut().zip(hn.iter().zip(hg.iter())) {
            *o = a ^ b;
        }
        Group {
            n: G_3072.n.clone(),
            g: G_3072.g.clone(),
            k: compute_k::<Sha512>(&G_3072),
            n_bytes,
            hn_xor_hg,
        }
    })
}

/// The 384-byte prime N (big-endian); also the raw bytes for the "A = N" negative case.
#[allow(non_snake_case)]
pub fn N() -> &'static [u8] {
    &group().n_bytes
}

/// `k = H(N ‖ PAD(g))`.
pub fn k() -> [u8; 64] {
    let mut out = [0u8; 64];
    let k = group().k.to_bytes_be();
    out[64 - k.len()..].copy_from_slice(&k);
    out
}

/// Strip leading zero bytes (Mbed TLS's minimal big-endian form; zero becomes empty).
pub fn minimal(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// `PAD()`: the big-endian integer `bytes` left-padded with zeros to 384 bytes (values longer than
/// 384 significant bytes are returned unpadded).
pub fn pad(bytes: &[u8]) -> Vec<u8> {
    let m = minimal(bytes);
    let mut out = vec![0u8; N_LEN.saturating_sub(m.len())];
    out.extend_from_slice(m);
    out
}

fn int(bytes: &[u8]) -> BigUint {
    BigUint::from_bytes_be(bytes)
}

/// Minimal big-endian bytes of `x` (zero encodes as empty, as Mbed TLS writes it).
pub fn to_minimal(x: &BigUint) -> Vec<u8> {
    if x.is_zero() {
        Vec::new()
    } else {
        x.to_bytes_be()
    }
}

/// `x = H(s ‖ H(I ‖ ":" ‖ p))`.
pub fn x(username: &[u8], password: &[u8], salt: &[u8]) -> [u8; 64] {
    let inner = Sha512::digest([username, b":", password].concat());
    Sha512::digest([salt, inner.as_slice()].concat()).into()
}

/// The verifier `v = g^x mod N` (minimal big-endian), what a device is provisioned with (the order of
/// ESP-IDF's `esp_srp_gen_salt_verifier`: username, password, salt).
pub fn verifier(username: &[u8], password: &[u8], salt: &[u8]) -> Vec<u8> {
    let grp = group();
    to_minimal(&grp.g.modpow(&int(&x(username, password, salt)), &grp.n))
}

/// `A = g^a mod N`, left-padded to exactly 384 bytes as the device requires.
pub fn public_a(a: &[u8]) -> Vec<u8> {
    let grp = group();
    pad(&to_minimal(&grp.g.modpow(&int(a), &grp.n)))
}

/// `u = H(PAD(A) ‖ PAD(B))`.
pub fn u(a_pub: &[u8], b_pub: &[u8]) -> [u8; 64] {
    let u = to_minimal(&compute_u::<Sha512>(&pad(a_pub), &pad(b_pub)));
    let mut out = [0u8; 64];
    out[64 - u.len()..].copy_from_slice(&u);
    out
}

/// Client premaster secret `S = (B − k·g^x)^(a + u·x) mod N` (minimal big-endian).
pub fn client_premaster(a: &[u8], b_pub: &[u8], x: &[u8], u: &[u8]) -> Vec<u8> {
    let grp = group();
    let x = int(x);
    let kgx = (&grp.k * grp.g.modpow(&x, &grp.n)) % &grp.n;
    let base = (int(b_pub) % &grp.n + &grp.n - kgx) % &grp.n;
    let exp = int(a) + int(u) * x;
    to_minimal(&base.modpow(&exp, &grp.n))
}

/// Session key `K = H(minimal(S))`.
pub fn session_key(premaster: &[u8]) -> [u8; 64] {
    Sha512::digest(minimal(premaster)).into()
}

/// Client proof `M = H((H(N) ⊕ H(PAD(g))) ‖ H(I) ‖ s ‖ A ‖ B ‖ K)`, with `salt`, `a_pub` and `b_pub`
/// exactly as exchanged (A as sent, B as received). The device computes the same to check it.
pub fn client_proof(
    username: &[u8],
    salt: &[u8],
    a_pub: &[u8],
    b_pub: &[u8],
    key: &[u8; 64],
) -> [u8; 64] {
    let user = Sha512::digest(username);
    let parts = [&group().hn_xor_hg[..], &user, salt, a_pub, b_pub, key];
    Sha512::digest(parts.concat()).into()
}

/// Device proof `HAMK = H(A ‖ M ‖ K)`, `a_pub` as sent.
pub fn device_proof(a_pub: &[u8], m: &[u8; 64], key: &[u8; 64]) -> [u8; 64] {
    compute_m2::<Sha512>(a_pub, m.into(), key).into()
}

/// `true` when the big-endian integer `value` is `0 mod N` (the 2026+ device check on A, and the
/// client's check on B).
pub fn is_zero_mod_n(value: &[u8]) -> bool {
    (int(value) % &group().n).is_zero()
}

#[cfg(test)]
mod tests {
    //! Known-answer values of spec §3.4.5.
    use super::*;
    use crate::test_vectors::*;

    const SALT: &str = "036ee0c7bcb9eda84c9eac97d93decf4";

    fn seq(from: u8, to: u8) -> Vec<u8> {
        (from..=to).collect()
    }

    #[test]
    fn kat_spec_3_4_5() {
        let salt = h(SALT);
        assert_eq!(N().len(), N_LEN);
        assert_eq!(
            k().to_vec(),
            h("a9c2e2559bf0ebb53f0cbbf62282906bede7f2182f00678211fbd5bde5b285033a4993503b87397f9be5ec02080fedbc0835587ad039060879b8621e8c3659e0")
        );
        let xv = x(b"wifiprov", b"abcd1234", &salt);
        assert_eq!(
            xv.to_vec(),
            h("869b97a7399bdc2e9e2943dbf1f5347a10108ea60e278cafb5849aa0c14f6b735aa186d260e779838af03d4393961086dabe3321c01c58672f186b698f83314a")
        );
        let v = verifier(b"wifiprov", b"abcd1234", &salt);
        // The example application's verifier (recorded in the golden vectors).
        let vec2 = parse(SEC2_FULL_FLOW);
        assert_eq!(v, h(vec2["inputs"]["sec2_verifier_hex"].as_str().unwrap()));

        let a = seq(0x11, 0x30);
        let a_pub = public_a(&a);
        assert_eq!(
            a_pub,
            h("
c5da6c7464fe83c3942ba7a86cc0ae7293c0237f06d26657a31bf5bd73c6d7f6828f632ef8d29f3325a1559f69c391f8
12ac482824b85f27dd2cd4cc7c702ee368b77ff72eeb69f7e795594e240adf57cb68f207c412dd9ce9647668bf78d951
6d62abc658f5e02ee8c5595602f0914d677ca07734a40811bc5163c6e5e9199d183e2319b80a6be1e49c71b358545349
488486eab5b4071e4503008a79b8104545b997c8de3ccd138928a6bf7b7168423055af3fe8bb1a601308121e4eb93424
5a885c79de785a2b39feb236ed3245731bf96a71aa09c3bed5fee54b8c52071d3898b7b912668914453ce12643772be6
17d852d366c36be53361567332670fdd9f8208bf83e410cd8a877a0b87a6d281271ddb219cbc5538c9a8fabb4aa7e7e5
f35b40aed360e53245f6497b91419a4155e197d74864fa7a1461c262ef4db0f33da2686411882dec339eb6ff34832e57
e3d957fbfd95181d10c0755a38854961eaba75619ce4338431134b67cc17acd79c92929050a904ec51e86ba529c640d9")
        );
        // B = (k·v + g^b) mod N for b = 52…71, as the device computes it (spec §3.4.5).
        let b_pub = h("
8a18b16d9968ba9137c15cd81defc2530c5f7f9f347bd3e591be012f8b7b18b4505fd41f4eec0de223e21ab672ae1b44
8a1d25c37d44ff606140c2af848620ff682bc82341675b8c1d8f77a43fd071aa1301a8139020d39f4c662d3f1cef7e11
c845a8a62a0927c97fc1793e73fda021129706be0a40d3ad0aba0abe3c932eb4ccc677d59f6496bf962b90cb188f4b18
394ddf9122edde1796b48602a4327e6c573e5ff5d71d6bc78857fa48c9ddbce12ff8b84dad8eaf0e840271dcee134240
195ac080d23cc67900cd6b988aefb4b710cf1301431723963f79e54d541fb6e2b87d3d77028314daa9b65db89d3bf103
8d6027d55663e0dc3613e8645dab6c5695491982c38a9bc2b9b0455c4157e803961e861aa9a84f580c80b404246bbdcf
20773e89ea18bb4bb3dd18b4d08f2562ba438ae8f09d216a4d04f7ee9774ecce1dda326141e3f5f7680990b9e5810d10
3dc47e7923037359babb9afc8d4ec42e1a5af499c9716b494c2c98906413aaa57b36b548db7d537f881bdd4b4bdd7628");
        let uv = u(&a_pub, &b_pub);
        assert_eq!(
            uv.to_vec(),
            h("5c470c6246ff1a9decfab04285e5122227f6a5e8b2437067b16a184af135fe74d7d66ba5f6a8f97d95a9472b0e2055fc13f1244a6580ca14f1197177db7cbb6d")
        );
        let s_client = client_premaster(&a, &b_pub, &xv, &uv);
        assert_eq!(
            s_client,
            h("
b355b76a31cf4c7f14168afcebfb3f29abe12756f456ed1431b49bb7599bcca394dbbbd4d870e4cf0b8e56b71f59fb11
4fd62f5a1f70d1c0bab01e20079475b2fadb7f2e54cefda1c386b97ed872cc03a76050955f441871142a4f2f63af2a94
dda226a1541f90da68027fac25b60466dd23fa471453d62887d232382692a84701fb17cb646f3751acd21b81627d658f
1c4fd5d58a9051cb3800988b4d74c412f7d764ec877dfdd73c376f967f545a6dfebddc0b086a38d85b6cb2bcde3bc718
e818c253f228576c8441f27ec2ce906a535a97e8e1f8c1ee0be459b6323bd15e3e7778d3ae5009b1f43c92f8aea5f2a1
db6bb30d84a3b898ac449d695381b1d8e7643e4b76551af92b5503f5eedd3b274bb4ac230a0c9ef58d86135288dfa711
5de2b898fbed08a0a0ed4cda2b3a1bf8c5728cc2fc9ec3a723712717e4ee82efbb8d284a47b59aa5515790cc96c9abb9
70cdd480a2194f6c6fa2c8b8f79b0ecdaaee6e9315a78f06d9c96bfc4217b3ad63764a7ab2292c7a4865ec94feea1304")
        );
        let key = session_key(&s_client);
        assert_eq!(
            key.to_vec(),
            h("37678a910e52ccd4a5081d23048e954b20ec13d8ec7c961359f0c747a379f35552655889510b5312163e1a6f7504b8b77805887a79940a2d620c665eb2c81789")
        );
        let m = client_proof(b"wifiprov", &salt, &a_pub, &b_pub, &key);
        assert_eq!(
            m.to_vec(),
            h("70dc203ec3b667d829655c8eafd02a2993f193856d09865b8d25965e454aff6387a1de3efadfa5f7e5bc82330774c45da9a24b6391a0f67ee60f441480510234")
        );
        assert_eq!(
            device_proof(&a_pub, &m, &key).to_vec(),
            h("d846a8db2348d9cd5c1708f69382762a4df977ef3f3e8c4e28e2ba6e653baf8a43af7eb00fcd7e3d48883f5acff55df933c7a2c732a21cf3da8151aee44781cb")
        );
    }

    #[test]
    fn padding_helpers() {
        assert_eq!(minimal(&[0, 0, 1, 0]), &[1, 0]);
        assert_eq!(minimal(&[0, 0]), &[] as &[u8]);
        assert_eq!(pad(&[0, 5]).len(), N_LEN);
        assert_eq!(pad(&[0, 5])[N_LEN - 1], 5);
        assert!(is_zero_mod_n(N()));
        assert!(is_zero_mod_n(&[0u8; N_LEN]));
        assert!(!is_zero_mod_n(&[1]));
        // S = 0 (A ≡ 0 attack): K = H(empty).
        assert_eq!(
            session_key(&[0u8; 4]),
            <[u8; 64]>::from(Sha512::digest(b""))
        );
    }
}
