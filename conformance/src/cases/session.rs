//! `prov-session`: handshakes of each scheme, wrong credentials and retries, replays, session ids, and
//! the Security 2 checks on `A` and the username (spec §3, §7.1, §8.1).
//!
//! Expectations come from `sec1_wrong_pop.json`, `sec1_no_pop*.json`, `sec2_wrong_password.json` and
//! `bad_inputs_sec1.json` / `bad_inputs_sec2.json`. The helpers at the end (explicit-cipher calls, raw
//! "must be refused" requests) are shared with the data and negative groups.

use proto::protocomm::Status;

use crate::case::{
    only_sec, secure, session_possible, short_hex, Case, Ctx, Env, Group, Step, Stop,
};
use crate::client::{messages, sec1, sec2, srp, Cipher, Sec1Client, Sec2Client};
use crate::ensure;
use crate::model::Answer;
use crate::profile::Profile;

/// The session cases.
pub fn cases() -> Vec<Case> {
    vec![
        case("SEC0-SESSION", "Security 0: the session command is answered with sec0{sr{Success}}", |e| only_sec(e, 0), sec0_session),
        case("SEC1-HANDSHAKE", "Security 1: Command0/Command1 with the device's PoP succeed and the device verify data checks out", sec1_only, sec1_handshake),
        case("SEC1-POP-WRONG", "Security 1: Command1 with a wrong PoP gets no response and data endpoints stay closed", sec1_only, sec1_pop_wrong),
        case("SEC1-POP-RETRY", "Security 1: after a wrong PoP, Command1 with the right PoP from offset 0 succeeds (network_prov) or fails (ESP-IDF ≤ 5.5, Zephyr: counter advanced)", sec1_only, sec1_pop_retry),
        case("SEC1-NO-POP", "Security 1 without PoP: the handshake with no PoP succeeds and data works", sec1_no_pop_applies, sec1_no_pop),
        case("SEC2-HANDSHAKE", "Security 2: SRP-6a handshake succeeds, the device proof checks out and device_nonce is 12 bytes ending in counter 1", sec2_only, sec2_handshake),
        case("SEC2-PASSWORD-WRONG", "Security 2: Command1 with a proof from a wrong password gets no response and data endpoints stay closed", sec2_only, sec2_password_wrong),
        case("SEC2-USERNAME-WRONG", "Security 2: an unknown username passes Command0 but Command1 gets no response", sec2_only, sec2_username_wrong),
        case("SEC2-PASSWORD-RETRY", "Security 2: after a wrong password, Command1 with the right proof for the same Command0 succeeds", sec2_only, sec2_password_retry),
        case("SESSION-CMD0-RESTART", "a new Command0 on an established session restarts it: old keys stop working, the new handshake works", secure_session, cmd0_restart),
        case("SESSION-CMD1-REPLAY", "a replayed Command1 on an established session gets no response and the session is kept", secure_session, cmd1_replay),
        case("SESSION-CMD1-BEFORE-CMD0", "Command1 before any Command0 gets no response", secure, cmd1_before_cmd0),
        case("SESSION-ID-CHANGE", "a new transport session drops the established secure session; a handshake on the new one works", secure_session, session_id_change),
        case("SEC2-A-SHORT", "Security 2: Command0 whose A is not exactly 384 bytes (383, 385, 32) gets no response", sec2_only, sec2_a_short),
        case("SEC2-A-ZERO", "Security 2: Command0 with A = 0 gets no response (SRP zero-key bypass)", sec2_only, sec2_a_zero),
        case("SEC2-A-N", "Security 2: Command0 with A = N gets no response (A mod N = 0)", sec2_only, sec2_a_n),
        case("SEC2-USERNAME-TOO-LONG", "Security 2: Command0 with a 65537-byte username gets no response", sec2_only, sec2_username_too_long),
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
        group: Group::Session,
        title,
        applies,
        disturbs: false,
        run,
    }
}

fn sec1_only(env: &Env<'_>) -> Option<String> {
    only_sec(env, 1)
}

fn sec2_only(env: &Env<'_>) -> Option<String> {
    only_sec(env, 2).or_else(|| session_possible(env))
}

fn sec1_no_pop_applies(env: &Env<'_>) -> Option<String> {
    only_sec(env, 1).or_else(|| {
        env.desc
            .pop
            .is_some()
            .then(|| "the device has a PoP (the device file sets `pop`)".into())
    })
}

// ---- Security 0 ---------------------------------------------------------------------------------

fn sec0_session(ctx: &mut Ctx<'_>) -> Step<()> {
    let r = ctx.expect_data(
        SESSION,
        &messages::sec0_command(),
        "Security 0 session command (52 03 a2 01 00)",
    )?;
    messages::decode_sec0_response(&r).map_err(|e| {
        Stop::Fail(format!(
            "Security 0 session response {}: {e} (spec §3.2)",
            short_hex(&r)
        ))
    })?;
    if ctx.env.profile != Profile::Zephyr {
        ensure!(
            r == [0x52, 0x05, 0x08, 0x01, 0xaa, 0x01, 0x00],
            "Security 0 session response is {}, expected 52050801aa0100 (spec §3.2; vectors/esp-idf/sec0_full_flow.json)",
            hex::encode(&r)
        );
    }
    Ok(())
}

// ---- Security 1 ---------------------------------------------------------------------------------

/// A PoP that is not the device's (non-empty, so it changes the key even on a no-PoP device).
fn wrong_pop(ctx: &Ctx<'_>) -> Vec<u8> {
    match &ctx.env.desc.pop {
        Some(p) => format!("{p}-wrong").into_bytes(),
        None => b"wrong-pop".to_vec(),
    }
}

fn right_pop(ctx: &Ctx<'_>) -> Option<Vec<u8>> {
    ctx.env.desc.pop.as_ref().map(|p| p.as_bytes().to_vec())
}

fn sec1_cmd0(ctx: &mut Ctx<'_>, client: &Sec1Client) -> Step<Vec<u8>> {
    ctx.expect_data(SESSION, &client.command0(), "Command0")
}

fn sec1_handshake(ctx: &mut Ctx<'_>) -> Step<()> {
    let mut c = Sec1Client::from_rng(right_pop(ctx), &mut ctx.rng);
    let r0 = sec1_cmd0(ctx, &c)?;
    let resp0 = sec1::decode_response0(&r0)
        .map_err(|e| Stop::Fail(format!("Response0: {e} (spec §3.3)")))?;
    ensure!(
        resp0.device_pubkey.len() == 32 && resp0.device_random.len() == 16,
        "Response0 has a {}-byte device_pubkey and a {}-byte device_random, expected 32 and 16 (spec §2.4, §3.3)",
        resp0.device_pubkey.len(),
        resp0.device_random.len()
    );
    let c1 = c.command1(&r0)?;
    let r1 = ctx.expect_data(SESSION, &c1, "Command1 with the device's PoP")?;
    let mut cipher = c.finish(&r1).map_err(|e| {
        Stop::Fail(format!(
            "Response1: {e} (the device verify data must be client_pubkey XOR keystream 32..63, spec §3.3)"
        ))
    })?;
    status_ok(
        &mut *ctx,
        &mut cipher,
        "GetStatus in the new session",
        "spec §3.3 'Data phase'",
    )
}

/// Sends a Command1 computed with a wrong PoP and requires no response. Returns Response0.
fn sec1_wrong_attempt(ctx: &mut Ctx<'_>, c: &mut Sec1Client) -> Step<Vec<u8>> {
    let r0 = sec1_cmd0(ctx, c)?;
    let c1 = c.command1(&r0)?;
    let cite = if ctx.env.desc.pop.is_some() {
        "spec §3.3 Command1 step 3, §7.1 'Sec1 wrong PoP'; vectors/esp-idf/sec1_wrong_pop.json step 3"
    } else {
        "spec §3.3: without a PoP the key is the bare shared secret; vectors/esp-idf/sec1_no_pop_device_client_sends_pop.json step 2"
    };
    refuse(
        ctx,
        SESSION,
        &c1,
        "Command1 computed with a wrong PoP",
        cite,
    )?;
    Ok(r0)
}

fn sec1_pop_wrong(ctx: &mut Ctx<'_>) -> Step<()> {
    let mut c = Sec1Client::from_rng(Some(wrong_pop(ctx)), &mut ctx.rng);
    sec1_wrong_attempt(ctx, &mut c)?;
    // What a client with the wrong key would send next: its GetStatus at keystream offset 64.
    let (key, iv) = (
        c.session_key().unwrap_or_default(),
        c.device_random().unwrap_or_default(),
    );
    let mut ctr = crate::client::Ctr::new(&key, &iv);
    ctr.seek(64);
    let wire = ctr.encrypt(&messages::get_status());
    refuse(
        ctx,
        "prov-config",
        &wire,
        "GetStatus after the failed Command1 (session still waiting for Command1)",
        "spec §3.1, §7.1; vectors/esp-idf/sec1_wrong_pop.json step 4 (ESP_ERR_INVALID_STATE)",
    )
}

fn sec1_pop_retry(ctx: &mut Ctx<'_>) -> Step<()> {
    let mut c = Sec1Client::from_rng(Some(wrong_pop(ctx)), &mut ctx.rng);
    let r0 = sec1_wrong_attempt(ctx, &mut c)?;
    c.set_pop(right_pop(ctx));
    let retry = c.command1_at(&r0, 0)?;
    let profile = ctx.env.profile;
    match profile {
        Profile::NetworkProv12 => {
            let r1 = match raw(ctx, SESSION, &retry, "Command1 again, right PoP, keystream offset 0")? {
                Some(r) => r,
                None => {
                    return Err(Stop::Fail(
                        "Command1 with the right PoP after a wrong one (same Command0, keystream offset 0) got no response; \
                         network_provisioning on PSA crypto rebuilds the CTR stream from device_random for every Command1 \
                         and the session must still be waiting for Command1 (spec §3.3 'Retrying Command1', §8.1)"
                            .into(),
                    ))
                }
            };
            let mut cipher = c.finish(&r1).map_err(|e| {
                Stop::Fail(format!(
                    "Response1 to the retried Command1: {e} (spec §3.3)"
                ))
            })?;
            status_ok(
                ctx,
                &mut cipher,
                "GetStatus on the recovered session",
                "spec §3.3",
            )
        }
        Profile::EspIdf55 | Profile::Zephyr => {
            refuse(
                ctx,
                SESSION,
                &retry,
                "Command1 again, right PoP, keystream offset 0",
                "the failed attempt advanced the device's CTR counter by 32 bytes, so a retry from offset 0 must fail \
                 (spec §3.3 'Retrying Command1', §8.1; vectors/esp-idf/sec1_wrong_pop.json step 5)",
            )?;
            if profile == Profile::Zephyr {
                // Only the failure is documented for the Zephyr port; a fresh handshake must work.
                let mut cipher = establish(ctx)?;
                return status_ok(
                    ctx,
                    &mut cipher,
                    "GetStatus after a fresh handshake",
                    "spec §3.3",
                );
            }
            // Two failed attempts: the device's stream is now at byte 64 (sec1_wrong_pop step 6).
            let retry = c.command1_at(&r0, 64)?;
            let r1 = match raw(ctx, SESSION, &retry, "Command1, right PoP, keystream offset 64")? {
                Some(r) => r,
                None => {
                    return Err(Stop::Fail(
                        "Command1 with the right PoP at keystream offset 64 (after two failed attempts of 32 bytes each) \
                         got no response: the session should still be waiting for Command1 with its counter advanced \
                         in place (spec §3.3, §7.1 'state stays CMD1'; vectors/esp-idf/sec1_wrong_pop.json step 6)"
                            .into(),
                    ))
                }
            };
            let mut cipher = c.finish(&r1).map_err(|e| {
                Stop::Fail(format!(
                    "Response1 to Command1 at offset 64: {e} (device verify expected at keystream 96..127, sec1_wrong_pop.json step 6)"
                ))
            })?;
            status_ok(
                ctx,
                &mut cipher,
                "GetStatus on the recovered session",
                "vectors/esp-idf/sec1_wrong_pop.json step 7",
            )
        }
    }
}

fn sec1_no_pop(ctx: &mut Ctx<'_>) -> Step<()> {
    let mut c = Sec1Client::from_rng(None, &mut ctx.rng);
    let r0 = sec1_cmd0(ctx, &c)?;
    let c1 = c.command1(&r0)?;
    let r1 = ctx.expect_data(SESSION, &c1, "Command1 without PoP")?;
    let mut cipher = c.finish(&r1).map_err(|e| {
        Stop::Fail(format!(
            "Response1: {e} (without a PoP the AES key is the bare X25519 secret, spec §3.3 step 5; vectors/esp-idf/sec1_no_pop.json)"
        ))
    })?;
    status_ok(
        ctx,
        &mut cipher,
        "GetStatus",
        "vectors/esp-idf/sec1_no_pop.json",
    )
}

// ---- Security 2 ---------------------------------------------------------------------------------

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

fn sec2_handshake(ctx: &mut Ctx<'_>) -> Step<()> {
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

fn sec2_password_wrong(ctx: &mut Ctx<'_>) -> Step<()> {
    let user = username(ctx);
    let wrong = [password(ctx), b"-wrong".to_vec()].concat();
    let mut c = sec2_client(ctx, &user, &wrong);
    sec2_wrong_attempt(
        ctx,
        &mut c,
        "spec §3.4.3 step 2, §7.1; vectors/esp-idf/sec2_wrong_password.json step 3",
    )?;
    // 18 bytes: what a GetStatus would look like (2 bytes + tag) under the wrong key.
    let mut g = crate::client::Gcm::patch1(
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

fn sec2_username_wrong(ctx: &mut Ctx<'_>) -> Step<()> {
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
    let mut cipher = establish(ctx)?;
    status_ok(
        ctx,
        &mut cipher,
        "GetStatus after a handshake with the right username",
        "spec §3.4",
    )
}

fn sec2_password_retry(ctx: &mut Ctx<'_>) -> Step<()> {
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

fn sec2_a_short(ctx: &mut Ctx<'_>) -> Step<()> {
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
    let mut cipher = establish(ctx)?;
    status_ok(
        ctx,
        &mut cipher,
        "GetStatus after a handshake with a 384-byte A",
        "spec §3.4",
    )
}

fn sec2_a_zero(ctx: &mut Ctx<'_>) -> Step<()> {
    sec2_bad_a(
        ctx,
        &[0u8; srp::N_LEN],
        "A = 0 (384 zero bytes)",
        "A mod N = 0 must be rejected: the SRP-6a zero-key bypass, spec §3.4.2 step 6, §7.1; vectors/esp-idf/bad_inputs_sec2.json step 9",
    )?;
    let mut cipher = establish(ctx)?;
    status_ok(
        ctx,
        &mut cipher,
        "GetStatus after a proper handshake",
        "spec §3.4",
    )
}

fn sec2_a_n(ctx: &mut Ctx<'_>) -> Step<()> {
    let n = srp::N().to_vec();
    sec2_bad_a(
        ctx,
        &n,
        "A = N",
        "A mod N = 0 must be rejected, spec §3.4.2 step 6, §7.1; vectors/esp-idf/bad_inputs_sec2.json step 10",
    )?;
    let mut cipher = establish(ctx)?;
    status_ok(
        ctx,
        &mut cipher,
        "GetStatus after a proper handshake",
        "spec §3.4",
    )
}

fn sec2_username_too_long(ctx: &mut Ctx<'_>) -> Step<()> {
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
    let mut cipher = establish(ctx)?;
    status_ok(
        ctx,
        &mut cipher,
        "GetStatus after a proper handshake",
        "spec §3.4",
    )
}

// ---- Both secure schemes ------------------------------------------------------------------------

fn cmd0_restart(ctx: &mut Ctx<'_>) -> Step<()> {
    let mut old = establish(ctx)?;
    status_ok(
        ctx,
        &mut old,
        "GetStatus on the first session",
        "spec §3.3/§3.4",
    )?;
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
    let c1 = hs
        .command1(&r0)?
        .ok_or_else(|| Stop::Fail("case bug: no Command1 for a secure scheme".into()))?;
    let r1 = ctx.expect_data(SESSION, &c1, "Command1 of the new handshake")?;
    let mut new = hs
        .finish(&r1, ctx.sec_patch_ver())
        .map_err(|e| Stop::Fail(format!("Response1 of the new handshake: {e} (spec §3.5)")))?;
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

fn cmd1_replay(ctx: &mut Ctx<'_>) -> Step<()> {
    let mut hs = ctx.client(None)?;
    let r0 = ctx.expect_data(SESSION, &hs.command0(), "Command0")?;
    let c1 = hs
        .command1(&r0)?
        .ok_or_else(|| Stop::Fail("case bug: no Command1 for a secure scheme".into()))?;
    let r1 = ctx.expect_data(SESSION, &c1, "Command1")?;
    let mut cipher = hs
        .finish(&r1, ctx.sec_patch_ver())
        .map_err(|e| Stop::Fail(format!("Response1: {e}")))?;
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

fn cmd1_before_cmd0(ctx: &mut Ctx<'_>) -> Step<()> {
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
        let mut cipher = establish(ctx)?;
        status_ok(
            ctx,
            &mut cipher,
            "GetStatus after a proper handshake",
            "spec §3.5",
        )?;
    }
    Ok(())
}

fn session_id_change(ctx: &mut Ctx<'_>) -> Step<()> {
    let mut old = establish(ctx)?;
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
    let mut new = establish(ctx).map_err(|e| match e {
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

// ---- helpers shared with the data and negative groups --------------------------------------------

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

/// A complete, correct handshake for the column's scheme; returns the data-phase cipher (for Security 0
/// the session command is sent and the cipher is plaintext).
pub(crate) fn establish(ctx: &mut Ctx<'_>) -> Step<Cipher> {
    let mut hs = ctx.client(None)?;
    let r0 = ctx.expect_data(SESSION, &hs.command0(), "Command0")?;
    let r1 = match hs
        .command1(&r0)
        .map_err(|e| Stop::Fail(format!("Response0: {e}")))?
    {
        None => r0,
        Some(c1) => ctx.expect_data(SESSION, &c1, "Command1")?,
    };
    hs.finish(&r1, ctx.sec_patch_ver())
        .map_err(|e| Stop::Fail(format!("Response1: {e}")))
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
