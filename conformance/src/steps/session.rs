//! Steps of `prov-session` shared by the case groups: complete and partial handshakes with explicit
//! ciphers, raw "must be refused" requests, and the GetStatus check that a session works (spec §3).

use proto::protocomm::Status;

use crate::case::{secure, session_possible, short_hex, Ctx, Env, Step, Stop};
use crate::ensure;
use crate::model::Answer;
use prov_client::{messages, Cipher, ClientError, Handshake};

/// The handshake endpoint.
pub(crate) const SESSION: &str = "prov-session";

/// Security 1/2 where a session can be established in this column.
pub(crate) fn secure_session(env: &Env<'_>) -> Option<String> {
    secure(env).or_else(|| session_possible(env))
}

/// Whether a session can be established in this column (for optional follow-up checks).
pub(crate) fn can_session(ctx: &Ctx<'_>) -> bool {
    session_possible(&ctx.env).is_none()
}

/// Sends raw bytes; the response, or `None` when the device gave none.
pub(crate) fn raw(
    ctx: &mut Ctx<'_>,
    endpoint: &str,
    body: &[u8],
    note: &str,
) -> Step<Option<Vec<u8>>> {
    Ok(match ctx.send(endpoint, body, note)? {
        Answer::Data(d) => Some(d),
        Answer::NoResponse(_) => None,
    })
}

/// Sends raw bytes and requires no response; `cite` names the rule (spec section, vector step).
pub(crate) fn refuse(
    ctx: &mut Ctx<'_>,
    endpoint: &str,
    body: &[u8],
    note: &str,
    cite: &str,
) -> Step<()> {
    match raw(ctx, endpoint, body, note)? {
        None => Ok(()),
        Some(d) => Err(Stop::Fail(format!(
            "{note}: answered {} bytes ({}), expected no response ({cite})",
            d.len(),
            short_hex(&d)
        ))),
    }
}

/// [`Ctx::establish`], then one GetStatus through the new cipher ([`status_ok`] with `note` and `cite`).
pub(crate) fn establish_checked(ctx: &mut Ctx<'_>, note: &str, cite: &str) -> Step<Cipher> {
    let mut cipher = ctx.establish()?;
    status_ok(ctx, &mut cipher, note, cite)?;
    Ok(cipher)
}

/// [`establish_checked`] with the usual "GetStatus in the session" check.
pub(crate) fn in_session(ctx: &mut Ctx<'_>) -> Step<Cipher> {
    establish_checked(ctx, "GetStatus in the session", "spec §3.3/§3.4")
}

/// A Security 1/2 handshake after Command0: the client and Response0.
pub(crate) fn pending(ctx: &mut Ctx<'_>) -> Step<(Handshake, Vec<u8>)> {
    let hs = ctx.client(None)?;
    let r0 = ctx.expect_data(SESSION, &hs.command0(), "Command0")?;
    Ok((hs, r0))
}

/// The Command1 that answers `r0` (a case bug for Security 0, which has none).
pub(crate) fn command1(hs: &mut Handshake, r0: &[u8]) -> Step<Vec<u8>> {
    hs.command1(r0)?
        .ok_or_else(|| Stop::Fail("case bug: no Command1 for a secure scheme".into()))
}

/// Sends `c1` as `note`, requires Response1 and checks it (`fail` words a bad one); returns the
/// data-phase cipher.
pub(crate) fn finish_with(
    ctx: &mut Ctx<'_>,
    hs: &mut Handshake,
    c1: &[u8],
    note: &str,
    fail: impl FnOnce(ClientError) -> String,
) -> Step<Cipher> {
    let r1 = ctx.expect_data(SESSION, c1, note)?;
    hs.finish(&r1, ctx.sec_patch_ver())
        .map_err(|e| Stop::Fail(fail(e)))
}

/// Encrypts `plain` with `cipher`, sends it and decrypts the answer; `None` when there is none.
pub(crate) fn exchange(
    ctx: &mut Ctx<'_>,
    cipher: &mut Cipher,
    endpoint: &str,
    plain: &[u8],
    note: &str,
) -> Step<Option<Vec<u8>>> {
    let wire = cipher.encrypt(plain);
    match ctx.rec.request(endpoint, &wire, Some(plain), note)? {
        Answer::Data(d) => {
            let p = cipher.decrypt(&d).map_err(|e| {
                Stop::Fail(format!(
                    "{note}: the response ({}) does not decrypt: {e}",
                    short_hex(&d)
                ))
            })?;
            ctx.rec.set_answer_plain(&p);
            Ok(Some(p))
        }
        Answer::NoResponse(_) => Ok(None),
    }
}

/// Encrypts `plain` with `cipher` and requires no response.
pub(crate) fn refuse_with(
    ctx: &mut Ctx<'_>,
    cipher: &mut Cipher,
    endpoint: &str,
    plain: &[u8],
    note: &str,
    cite: &str,
) -> Step<()> {
    let wire = cipher.encrypt(plain);
    match ctx.rec.request(endpoint, &wire, Some(plain), note)? {
        Answer::NoResponse(_) => Ok(()),
        Answer::Data(d) => Err(Stop::Fail(format!(
            "{note}: answered {} bytes ({}), expected no response ({cite})",
            d.len(),
            short_hex(&d)
        ))),
    }
}

/// GetStatus through `cipher`; requires a RespGetStatus with status Success.
pub(crate) fn status_ok(
    ctx: &mut Ctx<'_>,
    cipher: &mut Cipher,
    note: &str,
    cite: &str,
) -> Step<()> {
    let Some(p) = exchange(ctx, cipher, "prov-config", &messages::get_status(), note)? else {
        return Err(Stop::Fail(format!(
            "{note}: no response, expected a RespGetStatus ({cite})"
        )));
    };
    let r = messages::decode_resp_get_status(&p).map_err(|e| {
        Stop::Fail(format!(
            "{note}: the decrypted response {} is not a GetStatus answer: {e} ({cite})",
            short_hex(&p)
        ))
    })?;
    ensure!(
        r.status == Status::Success as i32,
        "{note}: RespGetStatus status {}, expected Success ({cite})",
        messages::describe_status(r.status)
    );
    Ok(())
}
