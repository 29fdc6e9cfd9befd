//! The negative corpus of spec §7.1/§7.2: malformed `SessionData`, wrong `sec_ver`, cross-scheme and
//! `msg`/payload oneof confusion, bad key / verify / proof lengths, low-order X25519 keys, unknown
//! command types and undecodable payloads on the data endpoints.
//!
//! Every case replays the matching steps of `bad_inputs_sec0.json`, `bad_inputs_sec1.json` or
//! `bad_inputs_sec2.json` (shortened where a console line would overflow) and, where the spec says the
//! state is kept, checks afterwards that the session still works.
//!
//! This module holds the catalogue and the shared "the device still works" helpers; `framing` has the
//! `SessionData` / `sec_ver` cases, `oneof` the `msg`/payload confusion cases, `fields` the Security 1/2
//! field-length and key cases, `endpoints` the data-endpoint cases.

use crate::case::Group::Negative as G;
use crate::case::{always, only_sec, secure, session_possible, Case, Ctx, Env, Step, Stop};
use crate::steps::session::{can_session, command1, raw, secure_session, status_ok, SESSION};
use prov_client::Handshake;
use prov_client::Profile;

mod endpoints;
mod fields;
mod framing;
mod oneof;

use endpoints::{config_undecodable, config_unknown_msg, scan_unknown_msg};
use fields::{
    sec1_low_order, sec1_pubkey_length, sec1_verify_length, sec2_proof_length, sec2_username_empty,
};
use framing::{scheme_cross, sec0_any_payload, sec_ver_wrong, session_empty, session_undecodable};
use oneof::{
    cmd0_carries_cmd1, cmd0_no_payload, cmd1_carries_cmd0, cmd1_no_payload,
    malformed_cmd0_established, msg_unknown,
};

/// The negative cases.
pub fn cases() -> Vec<Case> {
    vec![
        G.case("NEG-SESSION-UNDECODABLE", "prov-session with undecodable or truncated SessionData gets no response; the handshake still works", always, session_undecodable),
        G.case("NEG-SESSION-EMPTY", "Security 1/2: an empty prov-session body (sec_ver 0 by default) gets no response", |e| secure(e).or_else(|| crate::case::empty_body_judged(e)), session_empty),
        G.case("NEG-SEC-VER-WRONG", "a handshake message whose sec_ver is not the device's scheme gets no response, even with a valid payload", session_possible, sec_ver_wrong),
        G.case("NEG-SCHEME-CROSS", "Security 1/2: the right sec_ver with another scheme's payload (sec0/sec1/sec2) gets no response", secure, scheme_cross),
        G.case("NEG-SEC0-ANY-PAYLOAD", "Security 0: any SessionData with sec_ver 0 is answered with the same session response (payload not checked)", |e| only_sec(e, 0), sec0_any_payload),
        G.case("NEG-CMD0-NO-PAYLOAD", "Security 1/2: Command0 without its sc0 payload gets no response", secure, cmd0_no_payload),
        G.case("NEG-CMD0-CARRIES-CMD1", "Security 1/2: msg Command0 carrying an sc1 payload gets no response (oneof type confusion)", secure, cmd0_carries_cmd1),
        G.case("NEG-CMD1-CARRIES-CMD0", "Security 1/2: msg Command1 carrying an sc0 payload gets no response; the pending handshake survives", secure_session, cmd1_carries_cmd0),
        G.case("NEG-CMD1-NO-PAYLOAD", "Security 1/2: Command1 without its sc1 payload gets no response; the pending handshake survives", secure_session, cmd1_no_payload),
        G.case("NEG-HANDSHAKE-MSG-UNKNOWN", "Security 1/2: a handshake msg other than Command0/Command1 (1, 3, 7) gets no response", secure_session, msg_unknown),
        G.case("NEG-CMD0-MALFORMED-ESTABLISHED", "a malformed Command0 on an established session: Sec1 loses the session (restart first), Sec2 keeps it (check first)", malformed_cmd0_applies, malformed_cmd0_established),
        G.case("NEG-SEC1-PUBKEY-LENGTH", "Security 1: Command0 with a client_pubkey of 0, 31, 33 or 64 bytes gets no response", |e| only_sec(e, 1), sec1_pubkey_length),
        G.case("NEG-SEC1-PUBKEY-LOW-ORDER", "Security 1: Command0 with an all-zero or other low-order X25519 key gets no response", |e| only_sec(e, 1), sec1_low_order),
        G.case("NEG-SEC1-VERIFY-LENGTH", "Security 1: Command1 with client_verify_data missing, 31 or 33 bytes gets no response; the pending handshake survives", |e| only_sec(e, 1), sec1_verify_length),
        G.case("NEG-SEC2-PROOF-LENGTH", "Security 2: Command1 with a client proof of 0, 63 or 65 bytes gets no response; the pending handshake survives", sec2_session, sec2_proof_length),
        G.case("NEG-SEC2-USERNAME-EMPTY", "Security 2: Command0 with an empty username gets no response", sec2_session, sec2_username_empty),
        G.case("NEG-CONFIG-UNKNOWN-MSG", "prov-config with a response type or an unassigned msg gets no response; the session goes on", session_possible, config_unknown_msg),
        G.case("NEG-SCAN-UNKNOWN-MSG", "prov-scan with a response type or an unassigned msg gets no response; the session goes on", session_possible, scan_unknown_msg),
        G.case("NEG-CONFIG-UNDECODABLE", "prov-config with an undecodable payload gets no response; the session goes on", session_possible, config_undecodable),
    ]
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
    let mut cipher = ctx.establish().map_err(|e| match e {
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

/// Completes a pending handshake with the correct Command1 (the state must still be CMD1) and checks
/// that data works.
fn complete(ctx: &mut Ctx<'_>, mut hs: Handshake, r0: &[u8], after: &str, cite: &str) -> Step<()> {
    let c1 = command1(&mut hs, r0)?;
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
