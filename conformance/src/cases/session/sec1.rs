//! The Security 1 handshake cases: the X25519/PoP handshake, a wrong PoP, retrying Command1 after one
//! (which depends on the implementation's CTR counter handling) and the no-PoP variant (spec §3.3, §8.1).

use crate::case::{Ctx, Step, Stop};
use crate::ensure;
use crate::steps::session::{raw, refuse, status_ok, SESSION};
use prov_client::Profile;
use prov_client::{messages, sec1, Sec1Client};

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

pub(super) fn sec1_handshake(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn sec1_pop_wrong(ctx: &mut Ctx<'_>) -> Step<()> {
    let mut c = Sec1Client::from_rng(Some(wrong_pop(ctx)), &mut ctx.rng);
    sec1_wrong_attempt(ctx, &mut c)?;
    // What a client with the wrong key would send next: its GetStatus at keystream offset 64.
    let (key, iv) = (
        c.session_key().unwrap_or_default(),
        c.device_random().unwrap_or_default(),
    );
    let mut ctr = prov_client::Ctr::new(&key, &iv);
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

pub(super) fn sec1_pop_retry(ctx: &mut Ctx<'_>) -> Step<()> {
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
                let mut cipher = ctx.establish()?;
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

pub(super) fn sec1_no_pop(ctx: &mut Ctx<'_>) -> Step<()> {
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
