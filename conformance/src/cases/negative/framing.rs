//! `SessionData` framing cases: undecodable or empty `prov-session` bodies, a wrong `sec_ver`, another
//! scheme's payload, and Security 0 answering any payload (spec §3.2, §3.5, §7.1).

use prost::Message;
use proto::protocomm::{
    sec0_payload, sec1_payload, sec2_payload, S0SessionCmd, S0SessionResp, S2SessionCmd0,
    SessionCmd0,
};

use super::{still_works, vector};
use crate::case::{short_hex, Ctx, Step, Stop};
use crate::ensure;
use crate::steps::session::{raw, refuse, status_ok, SESSION};
use prov_client::Profile;
use prov_client::{messages, sec2};

pub(super) fn session_undecodable(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn session_empty(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn sec_ver_wrong(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn scheme_cross(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn sec0_any_payload(ctx: &mut Ctx<'_>) -> Step<()> {
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
        &mut prov_client::Cipher::Plain,
        "GetStatus afterwards",
        "spec §3.2",
    )
}
