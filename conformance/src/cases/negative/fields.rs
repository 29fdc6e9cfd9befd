//! Security 1/2 field cases: bad `client_pubkey` lengths, low-order X25519 keys, bad verify-data and
//! proof lengths, and an empty Security 2 username (spec §3.3, §3.4, §7.1).

use proto::protocomm::sec1_payload;

use super::{complete, finish_pending, still_works};
use crate::case::{Ctx, Step, Stop};
use crate::steps::session::{pending, refuse, SESSION};
use prov_client::{messages, sec1, sec2, Handshake};

// ---- Security 1 fields ---------------------------------------------------------------------------

pub(super) fn sec1_pubkey_length(ctx: &mut Ctx<'_>) -> Step<()> {
    let key = ctx.client(None)?.command0();
    let pubkey = messages::decode_session(&key)
        .ok()
        .and_then(|sd| match sd.proto {
            Some(proto::protocomm::session_data::Proto::Sec1(p)) => match p.payload {
                Some(sec1_payload::Payload::Sc0(c)) => Some(c.client_pubkey),
                _ => None,
            },
            _ => None,
        })
        .unwrap_or_else(|| vec![0x42; 32]);
    let probes: [(Vec<u8>, &str); 4] = [
        (
            pubkey[..31].to_vec(),
            "31 bytes (vectors/esp-idf/bad_inputs_sec1.json step 12)",
        ),
        (
            [pubkey.as_slice(), &[0x2a]].concat(),
            "33 bytes (vectors/esp-idf/bad_inputs_sec1.json step 13)",
        ),
        (Vec::new(), "0 bytes (field absent)"),
        ([pubkey.as_slice(), pubkey.as_slice()].concat(), "64 bytes"),
    ];
    for (k, what) in probes {
        refuse(
            ctx,
            SESSION,
            &sec1::command0_bytes(&k),
            &format!("Command0 with a client_pubkey of {what}"),
            "client_pubkey must be exactly 32 bytes (spec §3.3 Command0 step 2, §7.1)",
        )?;
    }
    still_works(ctx, "the bad-length public keys")
}

/// X25519 u-coordinates (little-endian) that mbedTLS refuses: 0, 1, p−1 and the two points of order 8.
const LOW_ORDER: [(&str, &str); 5] = [
    (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "all-zero key (u = 0)",
    ),
    (
        "0100000000000000000000000000000000000000000000000000000000000000",
        "u = 1",
    ),
    (
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "u = p − 1",
    ),
    (
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "a point of order 8",
    ),
    (
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "the other point of order 8",
    ),
];

pub(super) fn sec1_low_order(ctx: &mut Ctx<'_>) -> Step<()> {
    for (hex_key, what) in LOW_ORDER {
        let key = hex::decode(hex_key).map_err(|e| Stop::Fail(format!("case bug: {e}")))?;
        refuse(
            ctx,
            SESSION,
            &sec1::command0_bytes(&key),
            &format!("Command0 with the low-order X25519 key {what}"),
            "the shared secret would be all zeros; mbedTLS rejects the key (spec §3.3 Command0 step 4, §7.1, \
             §7.2 test_protocomm 'weak session')",
        )?;
    }
    still_works(ctx, "the low-order keys")
}

pub(super) fn sec1_verify_length(ctx: &mut Ctx<'_>) -> Step<()> {
    let (hs, r0) = pending(ctx)?;
    let probes: [(Vec<u8>, &str); 3] = [
        (
            vec![0x11; 31],
            "31 bytes (vectors/esp-idf/bad_inputs_sec1.json step 18)",
        ),
        (vec![0x11; 33], "33 bytes"),
        (Vec::new(), "0 bytes (field missing)"),
    ];
    let cite = "client_verify_data must be exactly 32 bytes, checked before any keystream is used \
                (spec §3.3 Command1 step 2, §7.1; vectors/esp-idf/bad_inputs_sec1.json steps 18–19)";
    for (v, what) in probes {
        refuse(
            ctx,
            SESSION,
            &sec1::command1_bytes(&v),
            &format!("Command1 with client_verify_data of {what}"),
            cite,
        )?;
    }
    finish_pending(ctx, hs, &r0, "the bad-length verify data", cite)
}

// ---- Security 2 fields ---------------------------------------------------------------------------

pub(super) fn sec2_proof_length(ctx: &mut Ctx<'_>) -> Step<()> {
    let (mut hs, r0) = pending(ctx)?;
    let proof = match &mut hs {
        Handshake::Sec2(c) => {
            c.command1(&r0)?;
            c.client_proof().unwrap_or([0x33; 64])
        }
        _ => return Err(Stop::Fail("case bug: not a Security 2 client".into())),
    };
    let probes: [(Vec<u8>, &str); 3] = [
        (
            proof[..63].to_vec(),
            "63 bytes (vectors/esp-idf/bad_inputs_sec2.json step 13)",
        ),
        ([proof.as_slice(), &[0x00]].concat(), "65 bytes"),
        (Vec::new(), "0 bytes"),
    ];
    let cite =
        "client_proof must be exactly 64 bytes; the SRP state is kept (spec §3.4.3 step 1, §7.1; \
                vectors/esp-idf/bad_inputs_sec2.json steps 13–14)";
    for (p, what) in probes {
        refuse(
            ctx,
            SESSION,
            &sec2::command1_bytes(&p),
            &format!("Command1 with a client proof of {what}"),
            cite,
        )?;
    }
    complete(ctx, hs, &r0, "the bad-length proofs", cite)
}

pub(super) fn sec2_username_empty(ctx: &mut Ctx<'_>) -> Step<()> {
    let a = match ctx.client(None)? {
        Handshake::Sec2(c) => c.public_a().to_vec(),
        _ => return Err(Stop::Fail("case bug: not a Security 2 client".into())),
    };
    refuse(
        ctx,
        SESSION,
        &sec2::command0_bytes(&[], &a),
        "Command0 with an empty username and a valid 384-byte A",
        "username length must be 1…65535 (spec §3.4.2 step 4, §7.1; vectors/esp-idf/bad_inputs_sec2.json step 7)",
    )?;
    still_works(ctx, "the empty username")
}

#[cfg(test)]
mod tests {
    use super::LOW_ORDER;
    use x25519_dalek::{PublicKey, StaticSecret};

    #[test]
    fn low_order_keys_give_a_non_contributory_secret() {
        let secret = StaticSecret::from([0x77; 32]);
        for (k, what) in LOW_ORDER {
            let key: [u8; 32] = hex::decode(k).unwrap().try_into().unwrap();
            let shared = secret.diffie_hellman(&PublicKey::from(key));
            assert!(!shared.was_contributory(), "{what}");
        }
    }
}
