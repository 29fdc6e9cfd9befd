//! The Security 2 handshake cases: the SRP-6a handshake, a wrong password or username, retrying
//! Command1, and the checks on `A` (length, 0 mod N) and the username length (spec §3.4, §7.1).

use crate::case::{short_hex, Ctx, Step, Stop};
use crate::ensure;
use crate::steps::session::{establish_checked, raw, refuse, status_ok, SESSION};
use prov_client::{messages, sec2, srp, Cipher, Sec2Client};

fn username(ctx: &Ctx<'_>) -> Vec<u8> {
    ctx.env
        .desc
        .username
        .clone()
        .unwrap_or_default()
        .into_bytes()
}

fn password(ctx: &Ctx<'_>) -> Vec<u8> {
    ctx.env
        .desc
        .password
        .clone()
        .unwrap_or_default()
        .into_bytes()
}

fn sec2_client(ctx: &mut Ctx<'_>, user: &[u8], pass: &[u8]) -> Sec2Client {
    Sec2Client::from_rng(user, pass, &mut ctx.rng)
}

fn sec2_cmd0(ctx: &mut Ctx<'_>, c: &Sec2Client, note: &str) -> Step<Vec<u8>> {
    ctx.expect_data(SESSION, &c.command0(), note)
}

fn sec2_finish(ctx: &mut Ctx<'_>, c: &mut Sec2Client, r1: &[u8]) -> Step<Cipher> {
    let patch = ctx.sec_patch_ver();
    c.finish(r1, patch).map_err(|e| {
        Stop::Fail(format!(
            "Response1: {e} (device_proof must be H(A ‖ M ‖ K), spec §3.4.3)"
        ))
    })
}

pub(super) fn sec2_handshake(ctx: &mut Ctx<'_>) -> Step<()> {
    let (user, pass) = (username(ctx), password(ctx));
    let mut c = sec2_client(ctx, &user, &pass);
    let r0 = sec2_cmd0(ctx, &c, "Command0")?;
    let resp0 = sec2::decode_response0(&r0)
        .map_err(|e| Stop::Fail(format!("Response0: {e} (spec §3.4.2)")))?;
    ensure!(
        !resp0.device_pubkey.is_empty() && resp0.device_pubkey.len() <= srp::N_LEN,
        "Response0 B has {} bytes, expected 1…384 (minimal big-endian, spec §3.4.2 step 5)",
        resp0.device_pubkey.len()
    );
    ensure!(
        !resp0.device_salt.is_empty(),
        "Response0 has an empty salt (spec §3.4.2)"
    );
    let c1 = c.command1(&r0)?;
    let r1 = ctx.expect_data(SESSION, &c1, "Command1 with the right password")?;
    let mut cipher = sec2_finish(ctx, &mut c, &r1)?;
    let nonce = c.device_nonce().unwrap_or_default().to_vec();
    ensure!(
        nonce.len() == 12 && nonce[8..] == [0, 0, 0, 1],
        "device_nonce is {} ({} bytes), expected 8 random bytes followed by the counter 00000001 (patch 1, spec §3.4.3 step 4)",
        hex::encode(&nonce),
        nonce.len()
    );
    status_ok(
        ctx,
        &mut cipher,
        "GetStatus in the new session",
        "spec §3.4.4",
    )
}

/// A Command0/Command1 pair whose Command1 carries the proof for `pass`; requires Command1 refused.
fn sec2_wrong_attempt(ctx: &mut Ctx<'_>, c: &mut Sec2Client, cite: &str) -> Step<Vec<u8>> {
    let r0 = sec2_cmd0(ctx, c, "Command0")?;
    let c1 = c.command1(&r0)?;
    refuse(
        ctx,
        SESSION,
        &c1,
        "Command1 with a proof from a wrong password",
        cite,
    )?;
    Ok(r0)
}

pub(super) fn sec2_password_wrong(ctx: &mut Ctx<'_>) -> Step<()> {
    let user = username(ctx);
    let wrong = [password(ctx), b"-wrong".to_vec()].concat();
    let mut c = sec2_client(ctx, &user, &wrong);
    sec2_wrong_attempt(
        ctx,
        &mut c,
        "spec §3.4.3 step 2, §7.1; vectors/esp-idf/sec2_wrong_password.json step 3",
    )?;
    // 18 bytes: what a GetStatus would look like (2 bytes + tag) under the wrong key.
    let mut g = prov_client::Gcm::patch1(
        c.session_key()
            .map(|k| {
                let mut a = [0u8; 32];
                a.copy_from_slice(&k[..32]);
                a
            })
            .unwrap_or_default(),
        &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    )?;
    let wire = g.encrypt(&messages::get_status());
    refuse(
        ctx,
        "prov-config",
        &wire,
        "GetStatus after the failed Command1",
        "the session is not established (spec §3.1, §7.1)",
    )
}

pub(super) fn sec2_username_wrong(ctx: &mut Ctx<'_>) -> Step<()> {
    let pass = password(ctx);
    let mut c = sec2_client(ctx, b"someone-else", &pass);
    let r0 = match raw(ctx, SESSION, &c.command0(), "Command0 with the unknown username \"someone-else\"")? {
        Some(r) => r,
        None => {
            return Err(Stop::Fail(
                "Command0 with an unknown username got no response, expected Response0: the device does not check \
                 usernames in Command0 (spec §3.4.2 step 4; vectors/esp-idf/sec2_wrong_password.json step 6)"
                    .into(),
            ))
        }
    };
    let c1 = c.command1(&r0)?;
    refuse(
        ctx,
        SESSION,
        &c1,
        "Command1 for the unknown username",
        "the username is hashed into M (spec §3.4.3 step 2; vectors/esp-idf/sec2_wrong_password.json step 7)",
    )?;
    establish_checked(
        ctx,
        "GetStatus after a handshake with the right username",
        "spec §3.4",
    )?;
    Ok(())
}

pub(super) fn sec2_password_retry(ctx: &mut Ctx<'_>) -> Step<()> {
    let user = username(ctx);
    let pass = password(ctx);
    let wrong = [pass.clone(), b"-wrong".to_vec()].concat();
    let mut c = sec2_client(ctx, &user, &wrong);
    let r0 = sec2_wrong_attempt(
        ctx,
        &mut c,
        "spec §3.4.3 step 2; vectors/esp-idf/sec2_wrong_password.json step 3",
    )?;
    c.set_password(&pass);
    let c1 = c.command1(&r0)?;
    let r1 = match raw(ctx, SESSION, &c1, "Command1 again with the right password (same A and B)")? {
        Some(r) => r,
        None => {
            return Err(Stop::Fail(
                "Command1 with the right proof after a wrong one got no response: the SRP state must be kept in \
                 CMD1 after a proof mismatch (spec §3.4.3 step 2, §7.1; vectors/esp-idf/sec2_wrong_password.json step 4)"
                    .into(),
            ))
        }
    };
    let mut cipher = sec2_finish(ctx, &mut c, &r1)?;
    status_ok(
        ctx,
        &mut cipher,
        "GetStatus on the recovered session",
        "vectors/esp-idf/sec2_wrong_password.json step 5",
    )
}

/// Sends a Security 2 Command0 with `a_pub` and requires no response. If the device answers anyway and
/// the value is 0 mod N, tries the password-less proof to say whether the bypass is real.
fn sec2_bad_a(ctx: &mut Ctx<'_>, a_pub: &[u8], what: &str, cite: &str) -> Step<()> {
    let user = username(ctx);
    let body = sec2::command0_bytes(&user, a_pub);
    let note = format!("Command0 with {what}");
    let Some(r0) = raw(ctx, SESSION, &body, &note)? else {
        return Ok(());
    };
    let mut detail = String::new();
    if srp::is_zero_mod_n(a_pub) {
        // S = 0, K = H(empty): a proof computed without the password.
        if let Ok(resp0) = sec2::decode_response0(&r0) {
            let key = srp::session_key(&[]);
            let m = srp::client_proof(&user, &resp0.device_salt, a_pub, &resp0.device_pubkey, &key);
            let answered = raw(
                ctx,
                SESSION,
                &sec2::command1_bytes(&m),
                "Command1 with the proof for S = 0 (no password)",
            )?;
            detail = if answered.is_some() {
                "; the follow-up Command1 with a proof computed WITHOUT the password (S = 0, K = SHA-512(\"\")) was \
                 accepted: authentication bypass"
                    .into()
            } else {
                "; the password-less Command1 was refused, but Command0 must already fail".into()
            };
        }
    }
    Err(Stop::Fail(format!(
        "{note}: answered {} bytes ({}), expected no response ({cite}){detail}",
        r0.len(),
        short_hex(&r0)
    )))
}

pub(super) fn sec2_a_short(ctx: &mut Ctx<'_>) -> Step<()> {
    let (user, pass) = (username(ctx), password(ctx));
    let c = sec2_client(ctx, &user, &pass);
    let a = c.public_a().to_vec();
    let cite = "client_pubkey must be exactly 384 bytes (spec §3.4.2 step 3, §7.1; vectors/esp-idf/bad_inputs_sec2.json step 8)";
    sec2_bad_a(ctx, &a[1..], "a 383-byte A (leading byte dropped)", cite)?;
    sec2_bad_a(
        ctx,
        &[&[0u8][..], &a].concat(),
        "a 385-byte A (zero byte prepended)",
        cite,
    )?;
    sec2_bad_a(ctx, &a[..32], "a 32-byte A", cite)?;
    establish_checked(
        ctx,
        "GetStatus after a handshake with a 384-byte A",
        "spec §3.4",
    )?;
    Ok(())
}

/// The follow-up of the Command0 checks: a proper handshake still works.
fn after_proper_handshake(ctx: &mut Ctx<'_>) -> Step<()> {
    establish_checked(ctx, "GetStatus after a proper handshake", "spec §3.4")?;
    Ok(())
}

pub(super) fn sec2_a_zero(ctx: &mut Ctx<'_>) -> Step<()> {
    sec2_bad_a(
        ctx,
        &[0u8; srp::N_LEN],
        "A = 0 (384 zero bytes)",
        "A mod N = 0 must be rejected: the SRP-6a zero-key bypass, spec §3.4.2 step 6, §7.1; vectors/esp-idf/bad_inputs_sec2.json step 9",
    )?;
    after_proper_handshake(ctx)
}

pub(super) fn sec2_a_n(ctx: &mut Ctx<'_>) -> Step<()> {
    let n = srp::N().to_vec();
    sec2_bad_a(
        ctx,
        &n,
        "A = N",
        "A mod N = 0 must be rejected, spec §3.4.2 step 6, §7.1; vectors/esp-idf/bad_inputs_sec2.json step 10",
    )?;
    after_proper_handshake(ctx)
}

pub(super) fn sec2_username_too_long(ctx: &mut Ctx<'_>) -> Step<()> {
    let body = sec2::command0_bytes(&vec![b'A'; 65_537], &[0xab; srp::N_LEN]);
    let mut cite = String::from(
        "username length must be 1…65535 (spec §3.4.2 step 4, §7.2 test_security2.c 1; vectors/esp-idf/bad_inputs_sec2.json step 6)",
    );
    if ctx.env.transport == crate::link::Transport::Http {
        cite.push_str(
            "; over HTTP the 65939-byte body also exceeds the 4096-byte limit (spec §4.1)",
        );
    }
    refuse(
        ctx,
        SESSION,
        &body,
        "Command0 with a 65537-byte username",
        &cite,
    )?;
    after_proper_handshake(ctx)
}
