//! `msg` / payload oneof cases: Command0 or Command1 without their payload or carrying the other one,
//! unknown handshake `msg` values, and a malformed Command0 on an established session (spec §3.3–§3.5).

use prost::Message;
use proto::protocomm::{sec1_payload, sec2_payload, S2SessionCmd1, SessionCmd0, SessionCmd1};

use super::{finish_pending, still_works, vector};
use crate::case::{Ctx, Step};
use crate::steps::session::{in_session, pending, refuse, refuse_with, status_ok, SESSION};
use prov_client::{messages, Handshake};

fn client_pubkey_cmd0(hs: &Handshake) -> Vec<u8> {
    match hs {
        Handshake::Sec1(c) => c.public_key().to_vec(),
        _ => Vec::new(),
    }
}

/// Command0 (`msg` 0) of the column's scheme with no payload at all.
fn cmd0_without_payload(ctx: &Ctx<'_>) -> Vec<u8> {
    if ctx.env.security == 1 {
        messages::session_data_sec1(1, 0, None)
    } else {
        messages::session_data_sec2(2, 0, None)
    }
}

pub(super) fn cmd0_no_payload(ctx: &mut Ctx<'_>) -> Step<()> {
    let body = cmd0_without_payload(ctx);
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

pub(super) fn cmd0_carries_cmd1(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn cmd1_carries_cmd0(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn cmd1_no_payload(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn msg_unknown(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn malformed_cmd0_established(ctx: &mut Ctx<'_>) -> Step<()> {
    let mut cipher = in_session(ctx)?;
    let sec = ctx.env.security;
    let body = cmd0_without_payload(ctx);
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
