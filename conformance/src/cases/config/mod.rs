//! `prov-config`: GetStatus, SetConfig, ApplyConfig and the Wi-Fi outcomes they lead to (spec §5.1,
//! §7.1, §8.1). Expectations come from the golden vectors (`wifi_*.json`, `bad_inputs_sec1.json`).
//!
//! This module holds the catalogue and the helpers shared with the scan, ctrl and custom cases;
//! `set` has the GetStatus/SetConfig validation cases, `apply` the ApplyConfig/outcome cases.

use crate::case::Group::Config as G;
use proto::protocomm::Status;
use proto::wifi_prov::resp_get_status::State;
use proto::wifi_prov::{
    RespGetStatus, WifiConnectFailedReason, WifiConnectedState, WifiStationState,
};

use crate::case::{session_possible, Case, Ctx, Env, Step, Stop};
use crate::description::Network;
use crate::ensure;
use crate::model::Answer;
use prov_client::messages;
use prov_client::Profile;

mod apply;
mod set;

use apply::{
    apply_after_failure, apply_auth_error, apply_connected, apply_not_found, apply_twice,
    apply_without_set, bssid_zero_byte, conn_attempts, set_after_success,
};
use set::{
    bssid_length, empty_ssid, max_lengths, passphrase_too_long, set_missing_payload, set_success,
    ssid_too_long, status_initial,
};

/// The config cases.
pub fn cases() -> Vec<Case> {
    vec![
        G.case("CFG-STATUS-INITIAL", "GetStatus before any SetConfig: Connecting (ESP-IDF) / Disconnected (Zephyr), no state detail", session_possible, status_initial),
        G.case("CFG-SET-SUCCESS", "SetConfig with the network's credentials answers Success, also when repeated", session_possible, set_success),
        G.case("CFG-SET-SSID-TOO-LONG", "SetConfig with a 33-byte SSID answers InvalidArgument and stages nothing", session_possible, ssid_too_long),
        G.case("CFG-SET-PASSPHRASE-TOO-LONG", "SetConfig with a 64-byte passphrase answers InvalidArgument and stages nothing", session_possible, passphrase_too_long),
        G.case("CFG-SET-BSSID-LENGTH", "SetConfig with a BSSID of 1, 5, 7 or 16 bytes answers InvalidArgument; 6 bytes + channel is accepted", session_possible, bssid_length),
        G.case("CFG-SET-MAX-LENGTHS", "SetConfig with a 32-byte SSID and a 63-byte passphrase answers Success", session_possible, max_lengths),
        G.case("CFG-SET-EMPTY-SSID", "SetConfig with an empty SSID: Success (ESP-IDF) / InvalidArgument (Zephyr)", session_possible, empty_ssid),
        G.disturbing("CFG-SET-MISSING-PAYLOAD", "SetConfig without cmd_set_config (or with another member) gets no response; the session and staged credentials survive", session_possible, set_missing_payload),
        G.case("CFG-APPLY-WITHOUT-SET", "ApplyConfig with nothing staged answers InternalError (ESP-IDF)", esp_only, apply_without_set),
        G.disturbing("CFG-APPLY-CONNECTED", "SetConfig + ApplyConfig on the first network: Connecting, then Connected with its IP, SSID, BSSID, channel and auth mode", session_possible, apply_connected),
        G.disturbing("CFG-APPLY-AUTH-ERROR", "a wrong passphrase ends in ConnectionFailed with fail_reason AuthError", session_possible, apply_auth_error),
        G.disturbing("CFG-APPLY-NETWORK-NOT-FOUND", "an unknown SSID ends in ConnectionFailed with fail_reason NetworkNotFound", session_possible, apply_not_found),
        G.disturbing("CFG-APPLY-CONN-ATTEMPTS", "with wifi_conn_attempts = N, failed attempts show attempt_failed{remaining < N} before the final AuthError", conn_attempts_applies, conn_attempts),
        G.disturbing("CFG-APPLY-TWICE", "a second SetConfig + ApplyConfig while connecting: InternalError (ESP-IDF) / Success (Zephyr)", session_possible, apply_twice),
        G.disturbing("CFG-APPLY-AFTER-FAILURE", "after a failure, SetConfig is accepted but ApplyConfig answers InternalError until CtrlReset (ESP-IDF)", session_possible, apply_after_failure),
        G.disturbing("CFG-SET-AFTER-SUCCESS", "after Connected, SetConfig answers Success and ApplyConfig InternalError (ESP-IDF) / Success (Zephyr)", session_possible, set_after_success),
        G.disturbing("CFG-CONNECTED-BSSID-ZERO-BYTE", "connected to an AP whose BSSID holds a 0x00 byte, GetStatus still reports a 6-byte BSSID (bytes after the 0x00 are undefined on ESP-IDF)", session_possible, bssid_zero_byte),
    ]
}

fn esp_only(env: &Env<'_>) -> Option<String> {
    session_possible(env).or_else(|| {
        (env.profile == Profile::Zephyr).then(|| {
            "ApplyConfig with nothing staged is not specified for the Zephyr port (spec §8.1)"
                .into()
        })
    })
}

fn conn_attempts_applies(env: &Env<'_>) -> Option<String> {
    session_possible(env).or_else(|| {
        (env.desc.wifi_conn_attempts == 0).then(|| {
            "the device file sets no wifi_conn_attempts (0 = the default endless-retry semantics, spec §6.4)".into()
        })
    })
}

// ---- helpers shared with the scan and ctrl cases ------------------------------------------------

/// The ESP-IDF family (wifi_provisioning and network_provisioning): byte-exact answers apply.
pub(crate) fn esp_family(p: Profile) -> bool {
    p != Profile::Zephyr
}

/// Encrypts `plain`, sends it and decrypts the answer; `None` when the device gave no response.
pub(crate) fn call_maybe(
    ctx: &mut Ctx<'_>,
    endpoint: &str,
    plain: &[u8],
    note: &str,
) -> Step<Option<Vec<u8>>> {
    let wire = ctx.cipher()?.encrypt(plain);
    match ctx.rec.request(endpoint, &wire, Some(plain), note)? {
        Answer::Data(d) => {
            let p = ctx
                .cipher()?
                .decrypt(&d)
                .map_err(|e| Stop::Fail(format!("{note}: response does not decrypt: {e}")))?;
            ctx.rec.set_answer_plain(&p);
            Ok(Some(p))
        }
        Answer::NoResponse(_) => Ok(None),
    }
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

fn show_connected(c: &WifiConnectedState) -> String {
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
    let Some(p) = call_maybe(ctx, "prov-config", &plain, &note)? else {
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

const STATUS_CONNECTING: [u8; 6] = [0x08, 0x01, 0x5a, 0x02, 0x10, 0x01];
const SET_SUCCESS: [u8; 4] = [0x08, 0x03, 0x6a, 0x00];
const SET_INVALID_ARGUMENT: [u8; 6] = [0x08, 0x03, 0x6a, 0x02, 0x08, 0x04];
const APPLY_SUCCESS: [u8; 4] = [0x08, 0x05, 0x7a, 0x00];
const APPLY_INTERNAL_ERROR: [u8; 6] = [0x08, 0x05, 0x7a, 0x02, 0x08, 0x05];
