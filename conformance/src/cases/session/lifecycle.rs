//! Session lifecycle cases for both secure schemes: a new Command0 restarts an established session, a
//! replayed or premature Command1 is refused, and a new transport session drops the secure one
//! (spec §3.1, §3.5).

use crate::case::{Ctx, Step, Stop};
use crate::steps::session::{
    can_session, command1, establish_checked, finish_with, pending, raw, refuse, refuse_with,
    status_ok, SESSION,
};
use prov_client::{messages, sec1, sec2};

pub(super) fn cmd0_restart(ctx: &mut Ctx<'_>) -> Step<()> {
    let mut old = establish_checked(ctx, "GetStatus on the first session", "spec §3.3/§3.4")?;
    let mut hs = ctx.client(None)?;
    let r0 = match raw(ctx, SESSION, &hs.command0(), "Command0 again on the established session")? {
        Some(r) => r,
        None => {
            return Err(Stop::Fail(
                "a new Command0 on an established session got no response, expected Response0: the session is \
                 silently restarted (spec §3.3 Command0 step 1, §3.5; vectors/esp-idf/bad_inputs_sec2.json step 22)"
                    .into(),
            ))
        }
    };
    refuse_with(
        ctx,
        &mut old,
        "prov-config",
        &messages::get_status(),
        "GetStatus with the old session's keys after the new Command0",
        "the restart wipes the established keys and the session waits for Command1 (spec §3.5)",
    )?;
    let c1 = command1(&mut hs, &r0)?;
    let mut new = finish_with(ctx, &mut hs, &c1, "Command1 of the new handshake", |e| {
        format!("Response1 of the new handshake: {e} (spec §3.5)")
    })?;
    status_ok(ctx, &mut new, "GetStatus with the new keys", "spec §3.5")?;
    if ctx.env.security == 2 {
        // GCM can tell the keys apart without disturbing the new session (its counter only moves on success).
        refuse_with(
            ctx,
            &mut old,
            "prov-config",
            &messages::get_status(),
            "GetStatus with the old keys after the new handshake",
            "previously established keys are gone (spec §3.5)",
        )?;
        status_ok(
            ctx,
            &mut new,
            "GetStatus with the new keys again",
            "spec §3.4.4",
        )?;
    }
    Ok(())
}

pub(super) fn cmd1_replay(ctx: &mut Ctx<'_>) -> Step<()> {
    let (mut hs, r0) = pending(ctx)?;
    let c1 = command1(&mut hs, &r0)?;
    let mut cipher = finish_with(ctx, &mut hs, &c1, "Command1", |e| format!("Response1: {e}"))?;
    status_ok(
        ctx,
        &mut cipher,
        "GetStatus in the session",
        "spec §3.3/§3.4",
    )?;
    let vector = if ctx.env.security == 1 {
        "vectors/esp-idf/bad_inputs_sec1.json step 20"
    } else {
        "vectors/esp-idf/bad_inputs_sec2.json step 15"
    };
    refuse(
        ctx,
        SESSION,
        &c1,
        "the same Command1 again (replay) on the established session",
        &format!("spec §3.3 Command1 step 1, §3.5 'Command1 when state = DONE'; {vector}"),
    )?;
    status_ok(
        ctx,
        &mut cipher,
        "GetStatus after the rejected replay",
        "the established session is kept (spec §3.5; vectors/esp-idf/bad_inputs_sec1.json step 21)",
    )
}

pub(super) fn cmd1_before_cmd0(ctx: &mut Ctx<'_>) -> Step<()> {
    let (body, vector) = if ctx.env.security == 1 {
        (
            sec1::command1_bytes(&[0x55; 32]),
            "vectors/esp-idf/bad_inputs_sec1.json step 11",
        )
    } else {
        (
            sec2::command1_bytes(&[0x55; 64]),
            "vectors/esp-idf/bad_inputs_sec2.json step 5",
        )
    };
    refuse(
        ctx,
        SESSION,
        &body,
        "Command1 before any Command0",
        &format!("spec §3.5 'Command1 when state = CMD0'; {vector}"),
    )?;
    if can_session(ctx) {
        let mut cipher = ctx.establish()?;
        status_ok(
            ctx,
            &mut cipher,
            "GetStatus after a proper handshake",
            "spec §3.5",
        )?;
    }
    Ok(())
}

pub(super) fn session_id_change(ctx: &mut Ctx<'_>) -> Step<()> {
    let mut old = ctx.establish()?;
    status_ok(
        ctx,
        &mut old,
        "GetStatus on the first transport session",
        "spec §3.1",
    )?;
    ctx.rec.new_session()?;
    refuse_with(
        ctx,
        &mut old,
        "prov-config",
        &messages::get_status(),
        "GetStatus with the old keys on the new transport session",
        "opening a transport session closes the previous secure session (spec §3.1; vectors/esp-idf/bad_inputs_sec1.json step 38)",
    )?;
    let mut new = ctx.establish().map_err(|e| match e {
        Stop::Fail(m) => Stop::Fail(format!(
            "handshake on the new transport session: {m} (spec §3.1; vectors/esp-idf/bad_inputs_sec1.json step 39)"
        )),
        s => s,
    })?;
    status_ok(
        ctx,
        &mut new,
        "GetStatus on the new transport session",
        "spec §3.1",
    )
}
