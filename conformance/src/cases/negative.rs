//! The negative corpus of spec §7.1/§7.2: malformed `SessionData`, wrong `sec_ver`, cross-scheme and
//! `msg`/payload oneof confusion, bad key / verify / proof lengths, low-order X25519 keys, unknown
//! command types and undecodable payloads on the data endpoints.
//!
//! Every case replays the matching steps of `bad_inputs_sec0.json`, `bad_inputs_sec1.json` or
//! `bad_inputs_sec2.json` (shortened where a console line would overflow) and, where the spec says the
//! state is kept, checks afterwards that the session still works.

use prost::Message;
use proto::protocomm::{
    sec0_payload, sec1_payload, sec2_payload, S0SessionCmd, S0SessionResp, S2SessionCmd0,
    S2SessionCmd1, SessionCmd0, SessionCmd1,
};

use crate::case::{
    always, only_sec, secure, session_possible, short_hex, Case, Ctx, Env, Group, Step, Stop,
};
use crate::cases::session::{
    can_session, establish, exchange, raw, refuse, refuse_with, secure_session, status_ok, SESSION,
};
use crate::client::{messages, sec1, sec2, Handshake};
use crate::ensure;
use crate::profile::Profile;

/// The negative cases.
pub fn cases() -> Vec<Case> {
    vec![
        case("NEG-SESSION-UNDECODABLE", "prov-session with undecodable or truncated SessionData gets no response; the handshake still works", always, session_undecodable),
        case("NEG-SESSION-EMPTY", "Security 1/2: an empty prov-session body (sec_ver 0 by default) gets no response", secure, session_empty),
        case("NEG-SEC-VER-WRONG", "a handshake message whose sec_ver is not the device's scheme gets no response, even with a valid payload", session_possible, sec_ver_wrong),
        case("NEG-SCHEME-CROSS", "Security 1/2: the right sec_ver with another scheme's payload (sec0/sec1/sec2) gets no response", secure, scheme_cross),
        case("NEG-SEC0-ANY-PAYLOAD", "Security 0: any SessionData with sec_ver 0 is answered with the same session response (payload not checked)", |e| only_sec(e, 0), sec0_any_payload),
        case("NEG-CMD0-NO-PAYLOAD", "Security 1/2: Command0 without its sc0 payload gets no response", secure, cmd0_no_payload),
        case("NEG-CMD0-CARRIES-CMD1", "Security 1/2: msg Command0 carrying an sc1 payload gets no response (oneof type confusion)", secure, cmd0_carries_cmd1),
        case("NEG-CMD1-CARRIES-CMD0", "Security 1/2: msg Command1 carrying an sc0 payload gets no response; the pending handshake survives", secure_session, cmd1_carries_cmd0),
        case("NEG-CMD1-NO-PAYLOAD", "Security 1/2: Command1 without its sc1 payload gets no response; the pending handshake survives", secure_session, cmd1_no_payload),
        case("NEG-HANDSHAKE-MSG-UNKNOWN", "Security 1/2: a handshake msg other than Command0/Command1 (1, 3, 7) gets no response", secure_session, msg_unknown),
        case("NEG-CMD0-MALFORMED-ESTABLISHED", "a malformed Command0 on an established session: Sec1 loses the session (restart first), Sec2 keeps it (check first)", malformed_cmd0_applies, malformed_cmd0_established),
        case("NEG-SEC1-PUBKEY-LENGTH", "Security 1: Command0 with a client_pubkey of 0, 31, 33 or 64 bytes gets no response", |e| only_sec(e, 1), sec1_pubkey_length),
        case("NEG-SEC1-PUBKEY-LOW-ORDER", "Security 1: Command0 with an all-zero or other low-order X25519 key gets no response", |e| only_sec(e, 1), sec1_low_order),
        case("NEG-SEC1-VERIFY-LENGTH", "Security 1: Command1 with client_verify_data missing, 31 or 33 bytes gets no response; the pending handshake survives", |e| only_sec(e, 1), sec1_verify_length),
        case("NEG-SEC2-PROOF-LENGTH", "Security 2: Command1 with a client proof of 0, 63 or 65 bytes gets no response; the pending handshake survives", sec2_session, sec2_proof_length),
        case("NEG-SEC2-USERNAME-EMPTY", "Security 2: Command0 with an empty username gets no response", sec2_session, sec2_username_empty),
        case("NEG-CONFIG-UNKNOWN-MSG", "prov-config with a response type or an unassigned msg gets no response; the session goes on", session_possible, config_unknown_msg),
        case("NEG-SCAN-UNKNOWN-MSG", "prov-scan with a response type or an unassigned msg gets no response; the session goes on", session_possible, scan_unknown_msg),
        case("NEG-CONFIG-UNDECODABLE", "prov-config with an undecodable payload gets no response; the session goes on", session_possible, config_undecodable),
    ]
}

fn case(
    id: &'static str,
    title: &'static str,
    applies: fn(&Env<'_>) -> Option<String>,
    run: fn(&mut Ctx<'_>) -> Step<()>,
) -> Case {
    Case {
        id,
        group: Group::Negative,
        title,
        applies,
        disturbs: false,
        run,
    }
}

fn sec2_session(env: &Env<'_>) -> Option<String> {
    only_sec(env, 2).or_else(|| session_possible(env))
}

fn malformed_cmd0_applies(env: &Env<'_>) -> Option<String> {
    secure_session(env).or_else(|| {
        (env.profile == Profile::Zephyr).then(|| {
            "the Zephyr port's Command0 handling on an established session is not documented (spec §8.1)".into()
        })
    })
}

/// `bad_inputs_sec1.json` or `bad_inputs_sec2.json` step `n`, by the column's scheme.
fn vector(ctx: &Ctx<'_>, sec1_step: u32, sec2_step: u32) -> String {
    match ctx.env.security {
        1 => format!("vectors/esp-idf/bad_inputs_sec1.json step {sec1_step}"),
        _ => format!("vectors/esp-idf/bad_inputs_sec2.json step {sec2_step}"),
    }
}

/// After refused handshake input: a complete handshake and a GetStatus still work (when the column can
/// hold a session).
fn still_works(ctx: &mut Ctx<'_>, after: &str) -> Step<()> {
    if !can_session(ctx) {
        return Ok(());
    }
    let mut cipher = establish(ctx).map_err(|e| match e {
        Stop::Fail(m) => Stop::Fail(format!(
            "after {after}, a correct handshake failed: {m} (rejected input must not break the device, spec §7.1)"
        )),
        s => s,
    })?;
    status_ok(
        ctx,
        &mut cipher,
        &format!("GetStatus after {after}"),
        "spec §7.1",
    )
}

/// A Security 1/2 handshake after Command0: the client and Response0.
fn pending(ctx: &mut Ctx<'_>) -> Step<(Handshake, Vec<u8>)> {
    let hs = ctx.client(None)?;
    let r0 = ctx.expect_data(SESSION, &hs.command0(), "Command0")?;
    Ok((hs, r0))
}

/// Completes a pending handshake with the correct Command1 (the state must still be CMD1) and checks
/// that data works.
fn complete(ctx: &mut Ctx<'_>, mut hs: Handshake, r0: &[u8], after: &str, cite: &str) -> Step<()> {
    let c1 = hs
        .command1(r0)?
        .ok_or_else(|| Stop::Fail("case bug: no Command1 for a secure scheme".into()))?;
    let note = format!("the correct Command1 after {after}");
    let Some(r1) = raw(ctx, SESSION, &c1, &note)? else {
        return Err(Stop::Fail(format!(
            "{note}: no response, expected Response1: the rejected message must leave the session waiting for \
             Command1 ({cite})"
        )));
    };
    let mut cipher = hs
        .finish(&r1, ctx.sec_patch_ver())
        .map_err(|e| Stop::Fail(format!("{note}: Response1: {e} ({cite})")))?;
    status_ok(ctx, &mut cipher, &format!("GetStatus after {after}"), cite)
}

fn client_pubkey_cmd0(hs: &Handshake) -> Vec<u8> {
    match hs {
        Handshake::Sec1(c) => c.public_key().to_vec(),
        _ => Vec::new(),
    }
}

// ---- SessionData framing --------------------------------------------------------------------------

fn session_undecodable(ctx: &mut Ctx<'_>) -> Step<()> {
    let truncated = match ctx.env.security {
        0 => messages::sec0_command()[..4].to_vec(),
        1 => {
            let c = ctx.client(None)?.command0();
            c[..c.len() - 5].to_vec()
        }
        _ => {
            let c = sec2::command0_bytes(b"wifiprov", &[0xab; 32]);
            c[..c.len() - 5].to_vec()
        }
    };
    let cite = format!(
        "undecodable SessionData → ESP_ERR_INVALID_ARG (spec §3.5, §7.1; {})",
        match ctx.env.security {
            0 => "vectors/esp-idf/bad_inputs_sec0.json step 5".to_string(),
            _ => vector(ctx, 3, 3).replace("step 3", "steps 3–4"),
        }
    );
    let probes: [(&[u8], &str); 3] = [
        (&[0xff, 0xff], "ff ff (truncated varint)"),
        (&[0x12], "12 (field 2 with no length)"),
        (
            &truncated,
            "a handshake message cut 5 bytes short (length runs past the end)",
        ),
    ];
    for (body, what) in probes {
        refuse(ctx, SESSION, body, &format!("prov-session: {what}"), &cite)?;
    }
    still_works(ctx, "undecodable SessionData")
}

fn session_empty(ctx: &mut Ctx<'_>) -> Step<()> {
    refuse(
        ctx,
        SESSION,
        &[],
        "an empty prov-session body",
        "decodes as SessionData{sec_ver 0}: wrong scheme (spec §2.0 rule 5, §7.1; vectors/esp-idf/bad_inputs_sec1.json step 2)",
    )?;
    still_works(ctx, "the empty prov-session body")
}

/// `body` (a SessionData) with `sec_ver` replaced.
fn with_sec_ver(body: &[u8], sec_ver: i32) -> Step<Vec<u8>> {
    let mut sd = messages::decode_session(body)?;
    sd.sec_ver = sec_ver;
    Ok(sd.encode_to_vec())
}

fn sec_ver_wrong(ctx: &mut Ctx<'_>) -> Step<()> {
    let sec = i32::from(ctx.env.security);
    let valid = ctx.client(None)?.command0();
    let (cite, vector) = match sec {
        0 => ("spec §3.2", "vectors/esp-idf/bad_inputs_sec0.json step 4"),
        1 => (
            "spec §3.5, §7.1",
            "vectors/esp-idf/bad_inputs_sec1.json step 5",
        ),
        _ => (
            "spec §3.5, §7.1",
            "vectors/esp-idf/bad_inputs_sec2.json step 4",
        ),
    };
    for wrong in (0..=2).filter(|&v| v != sec) {
        let body = with_sec_ver(&valid, wrong)?;
        refuse(
            ctx,
            SESSION,
            &body,
            &format!("the column's valid first handshake message with sec_ver = {wrong}"),
            &format!(
                "sec_ver ≠ the configured scheme ({sec}) → ESP_ERR_INVALID_ARG, {cite}; {vector}"
            ),
        )?;
    }
    if sec != 0 {
        // What esp_prov sends to a Security 0 device (`insecure client` of test_protocomm).
        refuse(
            ctx,
            SESSION,
            &messages::sec0_command(),
            "the Security 0 session command (sec_ver 0, sec0{sc{}})",
            &format!(
                "sec_ver ≠ the configured scheme ({sec}), spec §3.5, §7.2 test_protocomm 'insecure client'{}",
                if sec == 1 {
                    "; vectors/esp-idf/bad_inputs_sec1.json step 6"
                } else {
                    ""
                }
            ),
        )?;
    }
    still_works(ctx, "the messages with a wrong sec_ver")
}

fn scheme_cross(ctx: &mut Ctx<'_>) -> Step<()> {
    let sec = i32::from(ctx.env.security);
    let sec0 =
        messages::session_data_sec0(sec, 0, Some(sec0_payload::Payload::Sc(S0SessionCmd {})));
    let other = if sec == 1 {
        messages::session_data_sec2(
            1,
            0,
            Some(sec2_payload::Payload::Sc0(S2SessionCmd0 {
                client_username: b"user".to_vec(),
                client_pubkey: vec![0xab; 32],
            })),
        )
    } else {
        messages::session_data_sec1(
            2,
            0,
            Some(sec1_payload::Payload::Sc0(SessionCmd0 {
                client_pubkey: vec![0xab; 32],
            })),
        )
    };
    let other_name = if sec == 1 { "sec2" } else { "sec1" };
    refuse(
        ctx,
        SESSION,
        &other,
        &format!("sec_ver = {sec} with a {other_name} Command0 payload"),
        &format!(
            "cross-scheme confusion (spec §3.5, §7.1, §7.2; {})",
            vector(ctx, 8, 4)
        ),
    )?;
    refuse(
        ctx,
        SESSION,
        &sec0,
        &format!("sec_ver = {sec} with a sec0 session command"),
        &format!(
            "cross-scheme confusion (spec §3.5, §7.1{})",
            if sec == 1 {
                "; vectors/esp-idf/bad_inputs_sec1.json step 7"
            } else {
                ""
            }
        ),
    )?;
    still_works(ctx, "the cross-scheme messages")
}

fn sec0_any_payload(ctx: &mut Ctx<'_>) -> Step<()> {
    let probes = [
        (
            messages::session_data_sec1(
                0,
                0,
                Some(sec1_payload::Payload::Sc0(SessionCmd0 {
                    client_pubkey: vec![0x01; 32],
                })),
            ),
            "sec_ver 0 with a sec1 Command0 payload (vectors/esp-idf/bad_inputs_sec0.json step 3)",
        ),
        (
            messages::session_data_sec0(
                0,
                1,
                Some(sec0_payload::Payload::Sr(S0SessionResp { status: 0 })),
            ),
            "sec_ver 0 with a sec0 *response* (msg 1, sr)",
        ),
        (
            messages::session_data_sec0(0, 0, None),
            "sec_ver 0 with a sec0 payload but no sc",
        ),
    ];
    for (body, what) in probes {
        let Some(r) = raw(ctx, SESSION, &body, what)? else {
            return Err(Stop::Fail(format!(
                "{what}: no response, expected the Security 0 session response: the sec0 handler checks only \
                 sec_ver (spec §3.2)"
            )));
        };
        messages::decode_sec0_response(&r).map_err(|e| {
            Stop::Fail(format!(
                "{what}: response {}: {e} (spec §3.2)",
                short_hex(&r)
            ))
        })?;
        if ctx.env.profile != Profile::Zephyr {
            ensure!(
                r == [0x52, 0x05, 0x08, 0x01, 0xaa, 0x01, 0x00],
                "{what}: response {}, expected 52050801aa0100 (spec §3.2)",
                hex::encode(&r)
            );
        }
    }
    status_ok(
        ctx,
        &mut crate::client::Cipher::Plain,
        "GetStatus afterwards",
        "spec §3.2",
    )
}

// ---- msg / payload oneof -------------------------------------------------------------------------

fn cmd0_no_payload(ctx: &mut Ctx<'_>) -> Step<()> {
    let body = if ctx.env.security == 1 {
        messages::session_data_sec1(1, 0, None)
    } else {
        messages::session_data_sec2(2, 0, None)
    };
    refuse(
        ctx,
        SESSION,
        &body,
        "Command0 with no sc0 payload",
        &format!(
            "spec §3.3 Command0 step 2 / §3.4.2 step 1, §7.2 test_security{}.c; {}",
            ctx.env.security,
            vector(ctx, 9, 2)
        ),
    )?;
    still_works(ctx, "Command0 without payload")
}

fn cmd0_carries_cmd1(ctx: &mut Ctx<'_>) -> Step<()> {
    let body = if ctx.env.security == 1 {
        messages::session_data_sec1(
            1,
            0,
            Some(sec1_payload::Payload::Sc1(SessionCmd1 {
                client_verify_data: vec![0x55; 32],
            })),
        )
    } else {
        messages::session_data_sec2(
            2,
            0,
            Some(sec2_payload::Payload::Sc1(S2SessionCmd1 {
                client_proof: vec![0x55; 64],
            })),
        )
    };
    refuse(
        ctx,
        SESSION,
        &body,
        "msg Command0 carrying an sc1 payload",
        &format!(
            "oneof type confusion (spec §3.5, §7.1, §7.2 test_security{}.c; {})",
            ctx.env.security,
            vector(ctx, 10, 3)
        ),
    )?;
    still_works(ctx, "Command0 carrying sc1")
}

fn cmd1_carries_cmd0(ctx: &mut Ctx<'_>) -> Step<()> {
    let (hs, r0) = pending(ctx)?;
    let body = if ctx.env.security == 1 {
        messages::session_data_sec1(
            1,
            2,
            Some(sec1_payload::Payload::Sc0(SessionCmd0 {
                client_pubkey: client_pubkey_cmd0(&hs),
            })),
        )
    } else {
        let c = hs.command0();
        let mut sd = messages::decode_session(&c)?;
        if let Some(proto::protocomm::session_data::Proto::Sec2(p)) = &mut sd.proto {
            p.msg = 2;
        }
        sd.encode_to_vec()
    };
    let cite = format!(
        "oneof type confusion (spec §3.5, §7.2 test_security{}.c; {})",
        ctx.env.security,
        vector(ctx, 16, 12)
    );
    refuse(
        ctx,
        SESSION,
        &body,
        "msg Command1 carrying an sc0 payload",
        &cite,
    )?;
    finish_pending(ctx, hs, &r0, "Command1 carrying sc0", &cite)
}

/// Completes the pending handshake (ESP-IDF: state kept, keystream untouched); on the Zephyr port,
/// which reads the union as sc1 without checking, starts over instead.
fn finish_pending(
    ctx: &mut Ctx<'_>,
    hs: Handshake,
    r0: &[u8],
    after: &str,
    cite: &str,
) -> Step<()> {
    if ctx.env.profile == Profile::Zephyr {
        return still_works(ctx, after);
    }
    complete(ctx, hs, r0, after, cite)
}

fn cmd1_no_payload(ctx: &mut Ctx<'_>) -> Step<()> {
    let (hs, r0) = pending(ctx)?;
    let body = if ctx.env.security == 1 {
        messages::session_data_sec1(1, 2, None)
    } else {
        messages::session_data_sec2(2, 2, None)
    };
    let cite = format!(
        "spec §3.3 Command1 step 2 / §3.4.3 step 1, §7.2{}",
        if ctx.env.security == 1 {
            "; vectors/esp-idf/bad_inputs_sec1.json step 17"
        } else {
            ""
        }
    );
    refuse(ctx, SESSION, &body, "Command1 with no sc1 payload", &cite)?;
    finish_pending(ctx, hs, &r0, "Command1 without payload", &cite)
}

fn msg_unknown(ctx: &mut Ctx<'_>) -> Step<()> {
    let hs = ctx.client(None)?;
    let valid = hs.command0();
    for msg in [1, 3, 7] {
        let mut sd = messages::decode_session(&valid)?;
        match &mut sd.proto {
            Some(proto::protocomm::session_data::Proto::Sec1(p)) => p.msg = msg,
            Some(proto::protocomm::session_data::Proto::Sec2(p)) => p.msg = msg,
            _ => {}
        }
        let what = match msg {
            1 => "Response0, a response type",
            3 => "Response1, a response type",
            _ => "unassigned",
        };
        refuse(
            ctx,
            SESSION,
            &sd.encode_to_vec(),
            &format!("a valid Command0 payload with msg = {msg} ({what})"),
            &format!(
                "spec §3.5 'msg value other than Command0/Command1'{}",
                if ctx.env.security == 1 {
                    "; vectors/esp-idf/bad_inputs_sec1.json step 14"
                } else {
                    ""
                }
            ),
        )?;
    }
    still_works(ctx, "the handshake messages of unknown type")
}

fn malformed_cmd0_established(ctx: &mut Ctx<'_>) -> Step<()> {
    let mut cipher = establish(ctx)?;
    status_ok(
        ctx,
        &mut cipher,
        "GetStatus in the session",
        "spec §3.3/§3.4",
    )?;
    let sec = ctx.env.security;
    let body = if sec == 1 {
        messages::session_data_sec1(1, 0, None)
    } else {
        messages::session_data_sec2(2, 0, None)
    };
    refuse(
        ctx,
        SESSION,
        &body,
        "Command0 without sc0 on the established session",
        "spec §3.3 Command0 step 2 / §3.4.2 step 1",
    )?;
    if sec == 1 {
        refuse_with(
            ctx,
            &mut cipher,
            "prov-config",
            &messages::get_status(),
            "GetStatus after the malformed Command0",
            "Security 1 restarts the session before it checks the payload, so a malformed Command0 destroys an \
             established session (spec §3.3 Command0 steps 1–2)",
        )?;
        still_works(ctx, "the malformed Command0")
    } else {
        status_ok(
            ctx,
            &mut cipher,
            "GetStatus after the malformed Command0",
            "Security 2 checks the payload before restarting, so the established session is kept (spec §3.4.2 step 1)",
        )
    }
}

// ---- Security 1 fields ---------------------------------------------------------------------------

fn sec1_pubkey_length(ctx: &mut Ctx<'_>) -> Step<()> {
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

fn sec1_low_order(ctx: &mut Ctx<'_>) -> Step<()> {
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

fn sec1_verify_length(ctx: &mut Ctx<'_>) -> Step<()> {
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

fn sec2_proof_length(ctx: &mut Ctx<'_>) -> Step<()> {
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

fn sec2_username_empty(ctx: &mut Ctx<'_>) -> Step<()> {
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

// ---- data endpoints ------------------------------------------------------------------------------

/// Sends each plaintext (encrypted in the session) to `endpoint` and requires no response, then a
/// GetStatus on the same cipher: the device must have consumed exactly what the client did (Sec1:
/// the request's length of keystream; Sec2: one counter step per decrypted request).
fn refuse_all_then_status(
    ctx: &mut Ctx<'_>,
    endpoint: &str,
    probes: &[(Vec<u8>, String)],
    cite: &str,
) -> Step<()> {
    let mut cipher = establish(ctx)?;
    for (plain, what) in probes {
        if let Some(p) = exchange(ctx, &mut cipher, endpoint, plain, what)? {
            return Err(Stop::Fail(format!(
                "{what}: answered {}, expected no response ({cite})",
                short_hex(&p)
            )));
        }
    }
    status_ok(
        ctx,
        &mut cipher,
        "GetStatus after the rejected requests",
        "a request that decrypts but fails in the handler still consumes keystream (Sec1) / one counter step \
         (Sec2), exactly as the client did (spec §3.3, §3.4.4, §7.1)",
    )
}

fn config_unknown_msg(ctx: &mut Ctx<'_>) -> Step<()> {
    let probes: Vec<(Vec<u8>, String)> = [
        (
            1u8,
            "TypeRespGetStatus, a response type (vectors/esp-idf/bad_inputs_sec0.json step 6)",
        ),
        (3, "TypeRespSetConfig, a response type"),
        (5, "TypeRespApplyConfig, a response type"),
        (
            9,
            "unassigned in wifi_provisioning (vectors/esp-idf/bad_inputs_sec1.json step 25)",
        ),
        (12, "unassigned"),
        (100, "unassigned"),
    ]
    .iter()
    .map(|(m, what)| {
        (
            vec![0x08, *m],
            format!("WiFiConfigPayload msg {m} ({what})"),
        )
    })
    .collect();
    refuse_all_then_status(
        ctx,
        "prov-config",
        &probes,
        "unknown command type → ESP_FAIL (spec §5 dispatch rule 2, §7.1)",
    )
}

fn scan_unknown_msg(ctx: &mut Ctx<'_>) -> Step<()> {
    let probes: Vec<(Vec<u8>, String)> = [
        (1u8, "TypeRespScanStart, a response type"),
        (3, "TypeRespScanStatus, a response type"),
        (5, "TypeRespScanResult, a response type"),
        (12, "unassigned"),
        (100, "unassigned"),
    ]
    .iter()
    .map(|(m, what)| (vec![0x08, *m], format!("WiFiScanPayload msg {m} ({what})")))
    .collect();
    refuse_all_then_status(
        ctx,
        "prov-scan",
        &probes,
        "unknown command type → ESP_FAIL (spec §5 dispatch rule 2, §7.1)",
    )
}

fn config_undecodable(ctx: &mut Ctx<'_>) -> Step<()> {
    let probes: Vec<(Vec<u8>, String)> = vec![
        (
            vec![0x0a],
            "0a: field 1 with the wrong wire type and no length (vectors/esp-idf/bad_inputs_sec0.json step 7)".into(),
        ),
        (vec![0xff, 0xff], "ff ff: truncated varint".into()),
        (
            vec![0x52, 0x05, 0x00],
            "52 05 00: cmd_get_status whose length runs past the end".into(),
        ),
    ];
    refuse_all_then_status(
        ctx,
        "prov-config",
        &probes,
        "undecodable handler payload → ESP_ERR_INVALID_ARG (spec §5 dispatch rule 1, §7.1)",
    )
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
