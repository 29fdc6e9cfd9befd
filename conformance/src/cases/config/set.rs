//! The GetStatus and SetConfig cases: the initial status, accepted credentials, field-length
//! validation and malformed SetConfig requests (spec §5.1, §7.1, §8.1).

use proto::protocomm::Status;
use proto::wifi_prov::WifiStationState;

use crate::case::{short_hex, Ctx, Step, Stop};
use crate::ensure;
use crate::steps::config::{
    apply_raw, esp_family, no_response_fail, set_config_raw, set_ok, show, status_raw,
    APPLY_INTERNAL_ERROR, SET_INVALID_ARGUMENT, SET_SUCCESS, STATUS_CONNECTING,
};
use prov_client::messages;
use prov_client::Profile;

pub(super) fn status_initial(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let (raw, s) = status_raw(ctx, "GetStatus before any SetConfig")?;
    match ctx.env.profile {
        Profile::Zephyr => ensure!(
            s.status == 0 && s.sta_state == WifiStationState::Disconnected as i32 && s.state.is_none(),
            "GetStatus before any SetConfig: {}, expected Disconnected (Zephyr, spec §8.1 \"Initial GetStatus\")",
            show(&s)
        ),
        p => ensure!(
            raw == STATUS_CONNECTING,
            "GetStatus before any SetConfig: {} ({}), expected Connecting with no detail, 08015a021001 ({p}: CONNECTING is also the initial state, spec §5.1, §8.1 \"Initial GetStatus\"; vectors/esp-idf/bad_inputs_sec1.json step 21)",
            show(&s),
            hex::encode(&raw)
        ),
    }
    Ok(())
}

pub(super) fn set_success(ctx: &mut Ctx<'_>) -> Step<()> {
    let net = ctx.network()?;
    ctx.handshake()?;
    for round in ["first", "second (replaces the staged credentials)"] {
        let Some((raw, st)) =
            set_config_raw(ctx, net.ssid.as_bytes(), net.password.as_bytes(), &[], 0)?
        else {
            return Err(no_response_fail(
                &format!("{round} SetConfig {:?}", net.ssid),
                "status Success (spec §5.1)",
            ));
        };
        ensure!(
            st == Status::Success as i32,
            "{round} SetConfig {:?} answered status {}, expected Success (spec §5.1)",
            net.ssid,
            messages::describe_status(st)
        );
        if esp_family(ctx.env.profile) {
            ensure!(
                raw == SET_SUCCESS,
                "{round} SetConfig answered {}, expected 08036a00 (spec §5.1)",
                hex::encode(&raw)
            );
        }
    }
    Ok(())
}

/// A SetConfig the device must refuse: InvalidArgument (ESP-IDF, `08 03 6a 02 08 04`); the Zephyr port
/// may also fail to decode an oversize field (no response, spec §8.1 "Oversize fields").
fn expect_invalid(
    ctx: &mut Ctx<'_>,
    ssid: &[u8],
    pass: &[u8],
    bssid: &[u8],
    what: &str,
    cite: &str,
) -> Step<()> {
    let r = set_config_raw(ctx, ssid, pass, bssid, 0)?;
    match (ctx.env.profile, r) {
        (Profile::Zephyr, None) => Ok(()),
        (Profile::Zephyr, Some((_, st))) => {
            ensure!(
                st == Status::InvalidArgument as i32,
                "SetConfig with {what}: status {}, expected InvalidArgument or no response (Zephyr, spec §8.1 \"Oversize fields\")",
                messages::describe_status(st)
            );
            Ok(())
        }
        (_, None) => Err(no_response_fail(
            &format!("SetConfig with {what}"),
            &format!("status InvalidArgument, not a transport error (spec §5.1, §7.1; {cite})"),
        )),
        (_, Some((raw, st))) => {
            ensure!(
                raw == SET_INVALID_ARGUMENT,
                "SetConfig with {what}: answered {} (status {}), expected 08036a020804 = InvalidArgument (spec §5.1, §7.1; {cite})",
                hex::encode(&raw),
                messages::describe_status(st)
            );
            Ok(())
        }
    }
}

/// Nothing may have been staged by the refused SetConfig: ApplyConfig finds no credentials.
fn nothing_staged(ctx: &mut Ctx<'_>, what: &str) -> Step<()> {
    if !esp_family(ctx.env.profile) {
        return Ok(());
    }
    let (raw, st) = apply_raw(ctx)?;
    ensure!(
        raw == APPLY_INTERNAL_ERROR,
        "ApplyConfig after the refused SetConfig ({what}) answered {} (status {}), expected 08057a020805 = InternalError: the refused credentials must not be staged (spec §5.1)",
        hex::encode(&raw),
        messages::describe_status(st)
    );
    Ok(())
}

pub(super) fn ssid_too_long(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let what = "a 33-byte SSID";
    expect_invalid(
        ctx,
        &[b'A'; 33],
        b"pppppppp",
        &[],
        what,
        "vectors/esp-idf/bad_inputs_sec1.json step 31",
    )?;
    nothing_staged(ctx, what)
}

pub(super) fn passphrase_too_long(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let what = "a 64-byte passphrase";
    expect_invalid(
        ctx,
        b"x",
        &[b'p'; 64],
        &[],
        what,
        "vectors/esp-idf/bad_inputs_sec1.json step 33",
    )?;
    nothing_staged(ctx, what)
}

pub(super) fn bssid_length(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    for len in [1usize, 5, 7, 16] {
        let what = format!("a {len}-byte BSSID");
        expect_invalid(
            ctx,
            b"x",
            b"p",
            &vec![1u8; len],
            &what,
            "vectors/esp-idf/bad_inputs_sec1.json step 34",
        )?;
    }
    let Some((raw, st)) = set_config_raw(ctx, b"x", b"p", &[1u8; 6], 6)? else {
        return Err(no_response_fail(
            "SetConfig with a 6-byte BSSID and channel 6",
            "status Success (spec §5.1; vectors/esp-idf/bad_inputs_sec1.json step 35)",
        ));
    };
    ensure!(
        st == Status::Success as i32,
        "SetConfig with a 6-byte BSSID and channel 6 answered status {}, expected Success (spec §5.1; vectors/esp-idf/bad_inputs_sec1.json step 35)",
        messages::describe_status(st)
    );
    if esp_family(ctx.env.profile) {
        ensure!(
            raw == SET_SUCCESS,
            "SetConfig answered {}, expected 08036a00",
            hex::encode(&raw)
        );
    }
    Ok(())
}

pub(super) fn max_lengths(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    for (ssid, pass, what, step) in [
        (&[b'A'; 32][..], &b"pppppppp"[..], "a 32-byte SSID", 30),
        (&b"x"[..], &[b'p'; 63][..], "a 63-byte passphrase", 32),
        (
            &[b'A'; 32][..],
            &[b'p'; 63][..],
            "a 32-byte SSID and a 63-byte passphrase",
            32,
        ),
    ] {
        let Some((raw, st)) = set_config_raw(ctx, ssid, pass, &[], 0)? else {
            return Err(no_response_fail(
                &format!("SetConfig with {what}"),
                &format!("status Success: the limits are inclusive (spec §5.1; vectors/esp-idf/bad_inputs_sec1.json step {step})"),
            ));
        };
        ensure!(
            st == Status::Success as i32,
            "SetConfig with {what} answered status {}, expected Success: 32 and 63 bytes are the inclusive limits (spec §5.1; vectors/esp-idf/bad_inputs_sec1.json step {step})",
            messages::describe_status(st)
        );
        if esp_family(ctx.env.profile) {
            ensure!(
                raw == SET_SUCCESS,
                "SetConfig with {what} answered {}, expected 08036a00",
                hex::encode(&raw)
            );
        }
    }
    Ok(())
}

pub(super) fn empty_ssid(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let r = set_config_raw(ctx, b"", b"mypassword", &[], 0)?;
    let Some((_, st)) = r else {
        return Err(no_response_fail(
            "SetConfig with an empty SSID",
            "an answer with a status (spec §5.1, §8.1)",
        ));
    };
    let (want, rule) = match ctx.env.profile {
        Profile::Zephyr => (
            Status::InvalidArgument,
            "spec §8.1 \"SetConfig validation\": the Zephyr port refuses an empty SSID",
        ),
        _ => (Status::Success, "spec §5.1 \"An empty SSID is accepted\""),
    };
    ensure!(
        st == want as i32,
        "SetConfig with an empty SSID answered status {}, expected {} ({}: {rule})",
        messages::describe_status(st),
        want.as_str_name(),
        ctx.env.profile
    );
    Ok(())
}

pub(super) fn set_missing_payload(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let unknown = ctx.env.desc.unknown_ssid.clone();
    // Stage credentials first: a device that reboots loses them, which Security 0 can see too.
    set_ok(ctx, unknown.as_bytes(), b"whatever1")?;
    for (what, plain) in [
        (
            "SetConfig with no cmd_set_config (08 02)",
            &[0x08, 0x02][..],
        ),
        (
            "SetConfig carrying cmd_get_status instead (08 02 52 00)",
            &[0x08, 0x02, 0x52, 0x00][..],
        ),
    ] {
        if let Some(p) = ctx.call_maybe("prov-config", plain, what)? {
            return Err(Stop::Fail(format!(
                "{what}: answered {}, expected no response (spec §5.1, §7.1 \"SetConfig/ScanStart/ScanResult whose payload is missing or of the wrong oneof member\"; vectors/esp-idf/bad_inputs_sec1.json step 36)",
                short_hex(&p)
            )));
        }
        let Some(p) = ctx.call_maybe(
            "prov-config",
            &messages::get_status(),
            "GetStatus after the malformed SetConfig",
        )?
        else {
            return Err(Stop::Fail(format!(
                "GetStatus after {what} got no response: the session is gone — the device crashed and rebooted? \
                 (spec §7.1: current firmware rejects the request and keeps working; older firmware dereferenced NULL)"
            )));
        };
        messages::decode_resp_get_status(&p)
            .map_err(|e| Stop::Fail(format!("GetStatus after {what}: {e}")))?;
    }
    let (raw, st) = apply_raw(ctx)?;
    ensure!(
        st == Status::Success as i32,
        "ApplyConfig after the malformed SetConfigs answered status {} ({}), expected Success: the credentials staged before must survive a rejected request; losing them means the device rebooted (spec §7.1, §7.3)",
        messages::describe_status(st),
        hex::encode(&raw)
    );
    Ok(())
}
