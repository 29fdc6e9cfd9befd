//! SRP-6a, the device's half, exactly as ESP-IDF's `esp_srp` computes it (spec §3.4.1–3.4.3):
//! `B = (k·v + g^b) mod N` and `S = (A·v^u)^b mod N`.
//!
//! The group and the formulas both sides evaluate (`u`, `K`, `M`, `HAMK`) are defined once, in
//! `prov_client::srp`; the client's own maths (`x`, `A`, its `S`) is not needed here. The arithmetic
//! uses `num-bigint`, which is not constant-time: acceptable for a simulator whose secrets are test
//! credentials, and documented in ARCHITECTURE.md.

use num_bigint::BigUint;

pub use prov_client::srp::{client_proof, device_proof, group, session_key, to_minimal, u, N_LEN};

/// Device: `B = (k·v + g^b) mod N`.
pub fn device_public(v: &BigUint, b: &BigUint) -> BigUint {
    let grp = group();
    (&grp.k * v + grp.g.modpow(b, &grp.n)) % &grp.n
}

/// Device: `S = (A·v^u)^b mod N`.
pub fn device_premaster(a_pub: &BigUint, v: &BigUint, u: &BigUint, b: &BigUint) -> BigUint {
    let grp = group();
    ((a_pub * v.modpow(u, &grp.n)) % &grp.n).modpow(b, &grp.n)
}

#[cfg(test)]
mod tests {
    //! Known-answer values of spec §3.4.5, device side.
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(char::is_whitespace, "")).unwrap()
    }

    #[test]
    fn kat_device_side() {
        let salt = h("036ee0c7bcb9eda84c9eac97d93decf4");
        let v =
            BigUint::from_bytes_be(&prov_client::srp::verifier(b"wifiprov", b"abcd1234", &salt));
        let a_pub = prov_client::srp::public_a(&(0x11..=0x30).collect::<Vec<u8>>());
        let b = BigUint::from_bytes_be(&(0x52..=0x71).collect::<Vec<u8>>());
        let b_pub = to_minimal(&device_public(&v, &b));
        assert!(b_pub.starts_with(&h("8a18b16d9968ba9137c15cd81defc253")));
        let uv = u(&a_pub, &b_pub);
        let s = device_premaster(
            &BigUint::from_bytes_be(&a_pub),
            &v,
            &BigUint::from_bytes_be(&uv),
            &b,
        );
        let key = session_key(&to_minimal(&s));
        assert_eq!(
            key.to_vec(),
            h("37678a910e52ccd4a5081d23048e954b20ec13d8ec7c961359f0c747a379f35552655889510b5312163e1a6f7504b8b77805887a79940a2d620c665eb2c81789")
        );
        let m = client_proof(b"wifiprov", &salt, &a_pub, &b_pub, &key);
        assert_eq!(
            device_proof(&a_pub, &m, &key).to_vec(),
            h("d846a8db2348d9cd5c1708f69382762a4df977ef3f3e8c4e28e2ba6e653baf8a43af7eb00fcd7e3d48883f5acff55df933c7a2c732a21cf3da8151aee44781cb")
        );
    }
}
