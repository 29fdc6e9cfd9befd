//! Steps of `prov-config` shared by the case groups: GetStatus/SetConfig/ApplyConfig with their raw
//! answers, the expected outcomes in words, and the exact bytes ESP-IDF answers (spec §5.1, the
//! golden vectors).

use proto::protocomm::Status;
use proto::wifi_prov::resp_get_status::State;
use proto::wifi_prov::{
    RespGetStatus, WifiConnectFailedReason, WifiConnectedState, WifiStationState,
};

use crate::case::{Ctx, Step, Stop};
use crate::description::Network;
use crate::ensure;
use prov_client::messages;
use prov_client::Profile;

/// The ESP-IDF family (wifi_provisioning and network_provisioning): byte-exact answers apply.
pub(crate) fn esp_family(p: Profile) -> bool {
    p != Profile::Zephyr
}

/// The failure for "no response where one was expected".
pub(crate) fn no_response_fail(what: &str, expected: &str) -> Stop {
    Stop::Fail(format!("{what}: no response, expected {expected}"))
}

/// GetStatus with its plaintext.
pub(crate) fn status_raw(ctx: &mut Ctx<'_>, note: &str) -> Step<(Vec<u8>, RespGetStatus)> {
    let p = ctx.call("prov-config", &messages::get_status(), note)?;
    let s = messages::decode_resp_get_status(&p)
        .map_err(|e| Stop::Fail(format!("{note}: {e} (spec §5.1)")))?;
    Ok((p, s))
}

/// A GetStatus answer in words.
pub(crate) fn show(s: &RespGetStatus) -> String {
    let st = WifiStationState::try_from(s.sta_state).map_or_else(
        |_| format!("sta_state {}", s.sta_state),
        |v| v.as_str_name().to_string(),
    );
    let detail = match &s.state {
        None => String::new(),
        Some(State::FailReason(r)) => format!(", fail_reason {}", reason_name(*r)),
        Some(State::AttemptFailed(a)) => {
            format!(
                ", attempt_failed{{attempts_remaining {}}}",
                a.attempts_remaining
            )
        }
        Some(State::Connected(c)) => format!(", connected{}", show_connected(c)),
    };
    let status = if s.status == 0 {
        String::new()
    } else {
        format!(", status {}", messages::describe_status(s.status))
    };
    format!("{st}{detail}{status}")
}

pub(crate) fn show_connected(c: &WifiConnectedState) -> String {
    format!(
        "{{ip4_addr {:?}, auth_mode {}, ssid {:?}, bssid {}, channel {}}}",
        c.ip4_addr,
        c.auth_mode,
        String::from_utf8_lossy(&c.ssid),
        hex::encode(&c.bssid),
        c.channel
    )
}

fn reason_name(r: i32) -> String {
    WifiConnectFailedReason::try_from(r)
        .map_or_else(|_| format!("reason {r}"), |v| v.as_str_name().to_string())
}

/// SetConfig; the plaintext answer and its status, or `None` for no response.
pub(crate) fn set_config_raw(
    ctx: &mut Ctx<'_>,
    ssid: &[u8],
    pass: &[u8],
    bssid: &[u8],
    channel: i32,
) -> Step<Option<(Vec<u8>, i32)>> {
    let note = format!(
        "SetConfig ssid {} bytes, passphrase {} bytes, bssid {} bytes",
        ssid.len(),
        pass.len(),
        bssid.len()
    );
    let plain = messages::set_config(ssid, pass, bssid, channel);
    let Some(p) = ctx.call_maybe("prov-config", &plain, &note)? else {
        return Ok(None);
    };
    let r = messages::decode_resp_set_config(&p)
        .map_err(|e| Stop::Fail(format!("{note}: {e} (spec §5.1)")))?;
    Ok(Some((p, r.status)))
}

/// SetConfig that must answer Success.
pub(crate) fn set_ok(ctx: &mut Ctx<'_>, ssid: &[u8], pass: &[u8]) -> Step<()> {
    let st = ctx.set_config(ssid, pass)?;
    ensure!(
        st == Status::Success as i32,
        "SetConfig {:?} answered status {}, expected Success (spec §5.1)",
        String::from_utf8_lossy(ssid),
        messages::describe_status(st)
    );
    Ok(())
}

/// ApplyConfig with its plaintext.
pub(crate) fn apply_raw(ctx: &mut Ctx<'_>) -> Step<(Vec<u8>, i32)> {
    let p = ctx.call("prov-config", &messages::apply_config(), "ApplyConfig")?;
    let r = messages::decode_resp_apply_config(&p)
        .map_err(|e| Stop::Fail(format!("ApplyConfig: {e} (spec §5.1)")))?;
    Ok((p, r.status))
}

/// ApplyConfig that must answer Success (`08 05 7a 00` on ESP-IDF).
pub(crate) fn apply_ok(ctx: &mut Ctx<'_>) -> Step<()> {
    let (raw, st) = apply_raw(ctx)?;
    ensure!(
        st == Status::Success as i32,
        "ApplyConfig answered status {}, expected Success (spec §5.1)",
        messages::describe_status(st)
    );
    if esp_family(ctx.env.profile) {
        ensure!(
            raw == APPLY_SUCCESS,
            "ApplyConfig answered {}, expected 08057a00 (spec §5.1)",
            hex::encode(&raw)
        );
    }
    Ok(())
}

/// The answer right after a successful ApplyConfig: Connecting with no detail (`08 01 5a 02 10 01`).
/// `what` says which apply (for messages).
pub(crate) fn expect_connecting(ctx: &mut Ctx<'_>, what: &str) -> Step<()> {
    let (raw, s) = status_raw(ctx, "GetStatus right after ApplyConfig")?;
    let zephyr_done =
        ctx.env.profile == Profile::Zephyr && s.sta_state == WifiStationState::Connected as i32;
    ensure!(
        zephyr_done || (s.sta_state == WifiStationState::Connecting as i32 && s.state.is_none()),
        "GetStatus right after {what}: {}, expected Connecting with no fail_reason/attempt_failed: ApplyConfig sets the station to CONNECTING, an earlier outcome must not show (spec §5.1, §5.3; vectors/esp-idf/wifi_network_not_found.json step 6)",
        show(&s)
    );
    if esp_family(ctx.env.profile) {
        ensure!(
            raw == STATUS_CONNECTING,
            "GetStatus right after {what} answered {}, expected 08015a021001 (spec §5.1)",
            hex::encode(&raw)
        );
    }
    Ok(())
}

/// Handshake, then SetConfig of `net` with the description's wrong password and ApplyConfig (both must
/// succeed); the attempt must end in AuthError (`cite` names the rule).
pub(crate) fn fail_auth(ctx: &mut Ctx<'_>, net: &Network, cite: &str) -> Step<()> {
    let wrong = ctx.env.desc.wrong_password.clone();
    ctx.handshake()?;
    set_ok(ctx, net.ssid.as_bytes(), wrong.as_bytes())?;
    apply_ok(ctx)?;
    expect_failure(ctx, WifiConnectFailedReason::AuthError, cite)
}

/// Waits for the outcome and requires ConnectionFailed with `reason` (ESP-IDF bytes from the vectors).
pub(crate) fn expect_failure(
    ctx: &mut Ctx<'_>,
    reason: WifiConnectFailedReason,
    cite: &str,
) -> Step<()> {
    let s = ctx.wait_outcome()?;
    let want = Some(State::FailReason(reason as i32));
    ensure!(
        s.sta_state == WifiStationState::ConnectionFailed as i32 && s.state == want,
        "GetStatus after the attempt: {}, expected ConnectionFailed with fail_reason {} (spec §5.1; {cite})",
        show(&s),
        reason.as_str_name()
    );
    if esp_family(ctx.env.profile) {
        let (raw, _) = status_raw(ctx, "GetStatus (failure, bytes)")?;
        let want_raw = [0x08, 0x01, 0x5a, 0x04, 0x10, 0x03, 0x50, reason as u8];
        ensure!(
            raw == want_raw,
            "GetStatus answered {}, expected {} (spec §5.1; {cite})",
            hex::encode(&raw),
            hex::encode(want_raw)
        );
    }
    Ok(())
}

/// Waits for the outcome and requires Connected; returns the connection details.
pub(crate) fn expect_connected(ctx: &mut Ctx<'_>, ssid: &[u8]) -> Step<WifiConnectedState> {
    let s = ctx.wait_outcome()?;
    let c = match &s.state {
        Some(State::Connected(c)) if s.sta_state == WifiStationState::Connected as i32 => c.clone(),
        _ => {
            return Err(Stop::Fail(format!(
                "GetStatus after joining {:?}: {}, expected Connected with connection details (spec §5.1)",
                String::from_utf8_lossy(ssid),
                show(&s)
            )))
        }
    };
    ensure!(
        s.status == Status::Success as i32,
        "GetStatus (Connected) carries status {}, expected Success",
        messages::describe_status(s.status)
    );
    Ok(c)
}

/// Exact plaintext ESP-IDF answers (golden vectors).
pub(crate) const STATUS_CONNECTING: [u8; 6] = [0x08, 0x01, 0x5a, 0x02, 0x10, 0x01];
/// Exact plaintext ESP-IDF answers (golden vectors).
pub(crate) const SET_SUCCESS: [u8; 4] = [0x08, 0x03, 0x6a, 0x00];
/// Exact plaintext ESP-IDF answers (golden vectors).
pub(crate) const SET_INVALID_ARGUMENT: [u8; 6] = [0x08, 0x03, 0x6a, 0x02, 0x08, 0x04];
/// Exact plaintext ESP-IDF answers (golden vectors).
pub(crate) const APPLY_SUCCESS: [u8; 4] = [0x08, 0x05, 0x7a, 0x00];
/// Exact plaintext ESP-IDF answers (golden vectors).
pub(crate) const APPLY_INTERNAL_ERROR: [u8; 6] = [0x08, 0x05, 0x7a, 0x02, 0x08, 0x05];
