//! `prov-config`: GetStatus, SetConfig, ApplyConfig and the Wi-Fi outcomes they lead to (spec §5.1,
//! §7.1, §8.1). Expectations come from the golden vectors (`wifi_*.json`, `bad_inputs_sec1.json`).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use proto::protocomm::Status;
use proto::wifi_prov::resp_get_status::State;
use proto::wifi_prov::{
    RespGetStatus, WiFiScanResult, WifiAuthMode, WifiConnectFailedReason, WifiConnectedState,
    WifiStationState,
};

use crate::case::{session_possible, short_hex, Case, Ctx, Env, Group, Step, Stop};
use crate::cases::scan;
use crate::client::messages;
use crate::description::Network;
use crate::ensure;
use crate::model::Answer;
use crate::profile::Profile;

/// The config cases.
pub fn cases() -> Vec<Case> {
    vec![
        case("CFG-STATUS-INITIAL", "GetStatus before any SetConfig: Connecting (ESP-IDF) / Disconnected (Zephyr), no state detail", session_possible, status_initial),
        case("CFG-SET-SUCCESS", "SetConfig with the network's credentials answers Success, also when repeated", session_possible, set_success),
        case("CFG-SET-SSID-TOO-LONG", "SetConfig with a 33-byte SSID answers InvalidArgument and stages nothing", session_possible, ssid_too_long),
        case("CFG-SET-PASSPHRASE-TOO-LONG", "SetConfig with a 64-byte passphrase answers InvalidArgument and stages nothing", session_possible, passphrase_too_long),
        case("CFG-SET-BSSID-LENGTH", "SetConfig with a BSSID of 1, 5, 7 or 16 bytes answers InvalidArgument; 6 bytes + channel is accepted", session_possible, bssid_length),
        case("CFG-SET-MAX-LENGTHS", "SetConfig with a 32-byte SSID and a 63-byte passphrase answers Success", session_possible, max_lengths),
        case("CFG-SET-EMPTY-SSID", "SetConfig with an empty SSID: Success (ESP-IDF) / InvalidArgument (Zephyr)", session_possible, empty_ssid),
        dcase("CFG-SET-MISSING-PAYLOAD", "SetConfig without cmd_set_config (or with another member) gets no response; the session and staged credentials survive", session_possible, set_missing_payload),
        case("CFG-APPLY-WITHOUT-SET", "ApplyConfig with nothing staged answers InternalError (ESP-IDF)", esp_only, apply_without_set),
        dcase("CFG-APPLY-CONNECTED", "SetConfig + ApplyConfig on the first network: Connecting, then Connected with its IP, SSID, BSSID, channel and auth mode", session_possible, apply_connected),
        dcase("CFG-APPLY-AUTH-ERROR", "a wrong passphrase ends in ConnectionFailed with fail_reason AuthError", session_possible, apply_auth_error),
        dcase("CFG-APPLY-NETWORK-NOT-FOUND", "an unknown SSID ends in ConnectionFailed with fail_reason NetworkNotFound", session_possible, apply_not_found),
        dcase("CFG-APPLY-CONN-ATTEMPTS", "with wifi_conn_attempts = N, failed attempts show attempt_failed{remaining < N} before the final AuthError", conn_attempts_applies, conn_attempts),
        dcase("CFG-APPLY-TWICE", "a second SetConfig + ApplyConfig while connecting: InternalError (ESP-IDF) / Success (Zephyr)", session_possible, apply_twice),
        dcase("CFG-APPLY-AFTER-FAILURE", "after a failure, SetConfig is accepted but ApplyConfig answers InternalError until CtrlReset (ESP-IDF)", session_possible, apply_after_failure),
        dcase("CFG-SET-AFTER-SUCCESS", "after Connected, SetConfig answers Success and ApplyConfig InternalError (ESP-IDF) / Success (Zephyr)", session_possible, set_after_success),
        dcase("CFG-CONNECTED-BSSID-ZERO-BYTE", "connected to an AP whose BSSID holds a 0x00 byte, GetStatus still reports a 6-byte BSSID (bytes after the 0x00 are undefined on ESP-IDF)", session_possible, bssid_zero_byte),
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
        group: Group::Config,
        title,
        applies,
        disturbs: false,
        run,
    }
}

/// A case that applies credentials: it leaves the device changed (connected, failed or stopped).
fn dcase(
    id: &'static str,
    title: &'static str,
    applies: fn(&Env<'_>) -> Option<String>,
    run: fn(&mut Ctx<'_>) -> Step<()>,
) -> Case {
    Case {
        disturbs: true,
        ..case(id, title, applies, run)
    }
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

/// ApplyConfig refused by ESP-IDF (InternalError, `08 05 7a 02 08 05`), accepted by the Zephyr port.
fn apply_refused_unless_zephyr(ctx: &mut Ctx<'_>, situation: &str, cite: &str) -> Step<()> {
    let (raw, st) = apply_raw(ctx)?;
    if ctx.env.profile == Profile::Zephyr {
        ensure!(
            st == Status::Success as i32,
            "ApplyConfig {situation} answered status {}, expected Success (Zephyr: ApplyConfig is always allowed, spec §8.1)",
            messages::describe_status(st)
        );
    } else {
        ensure!(
            raw == APPLY_INTERNAL_ERROR,
            "ApplyConfig {situation} answered {} (status {}), expected 08057a020805 = InternalError: credentials were already applied in this run ({cite})",
            hex::encode(&raw),
            messages::describe_status(st)
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

fn wrong_password_network(ctx: &Ctx<'_>) -> Step<Network> {
    let net = ctx.network()?;
    if net.password.is_empty() {
        return Err(Stop::Skip(format!(
            "the first network {:?} is open: any passphrase joins it, so no AuthError can be provoked",
            net.ssid
        )));
    }
    Ok(net)
}

// ---- cases ----------------------------------------------------------------------------------------

fn status_initial(ctx: &mut Ctx<'_>) -> Step<()> {
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

fn set_success(ctx: &mut Ctx<'_>) -> Step<()> {
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

fn ssid_too_long(ctx: &mut Ctx<'_>) -> Step<()> {
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

fn passphrase_too_long(ctx: &mut Ctx<'_>) -> Step<()> {
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

fn bssid_length(ctx: &mut Ctx<'_>) -> Step<()> {
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

fn max_lengths(ctx: &mut Ctx<'_>) -> Step<()> {
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

fn empty_ssid(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let r = set_config_raw(ctx, b"", b"mypassword", &[], 0)?;
    let Some((_, st)) = r else {
        return Err(no_response_fail(
            "SetConfig with an empty SSID",
            "an answer with a status (spec §5.1, §8.1)",
        ));
    };
    let want = match ctx.env.profile {
        Profile::Zephyr => Status::InvalidArgument,
        _ => Status::Success,
    };
    ensure!(
        st == want as i32,
        "SetConfig with an empty SSID answered status {}, expected {} ({}: spec §5.1 \"An empty SSID is accepted\", §8.1 \"SetConfig validation\")",
        messages::describe_status(st),
        want.as_str_name(),
        ctx.env.profile
    );
    Ok(())
}

fn set_missing_payload(ctx: &mut Ctx<'_>) -> Step<()> {
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
        if let Some(p) = call_maybe(ctx, "prov-config", plain, what)? {
            return Err(Stop::Fail(format!(
                "{what}: answered {}, expected no response (spec §5.1, §7.1 \"SetConfig/ScanStart/ScanResult whose payload is missing or of the wrong oneof member\"; vectors/esp-idf/bad_inputs_sec1.json step 36)",
                short_hex(&p)
            )));
        }
        let Some(p) = call_maybe(
            ctx,
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

fn apply_without_set(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let (raw, st) = apply_raw(ctx)?;
    ensure!(
        raw == APPLY_INTERNAL_ERROR,
        "ApplyConfig with no staged credentials answered {} (status {}), expected 08057a020805 = InternalError (spec §5.1 \"No pending credentials\")",
        hex::encode(&raw),
        messages::describe_status(st)
    );
    let (raw, s) = status_raw(ctx, "GetStatus after the refused ApplyConfig")?;
    ensure!(
        raw == STATUS_CONNECTING,
        "GetStatus after the refused ApplyConfig: {}, expected the initial Connecting (08015a021001): nothing was applied (spec §5.1)",
        show(&s)
    );
    Ok(())
}

/// Where the scan saw `ssid`, if it did.
fn seen_in_scan(ctx: &mut Ctx<'_>, ssid: &[u8]) -> Step<Option<WiFiScanResult>> {
    let all = scan::scan_list(ctx)?;
    Ok(all.into_iter().find(|e| e.ssid == ssid))
}

/// The reported BSSID matches the scanned one. ESP-IDF copies it with `strndup`, so bytes after a
/// 0x00 are heap contents on a chip (spec §5.1 quirk; vectors/esp-idf/wifi_connected_bssid_zero_byte.json).
fn bssid_matches(profile: Profile, got: &[u8], want: &[u8]) -> bool {
    if got.len() != 6 || want.len() != 6 {
        return false;
    }
    if !esp_family(profile) {
        return got == want;
    }
    let defined = want.iter().position(|&b| b == 0).map_or(6, |i| i + 1);
    got[..defined] == want[..defined]
}

fn apply_connected(ctx: &mut Ctx<'_>) -> Step<()> {
    let net = ctx.network()?;
    ctx.handshake()?;
    let seen = seen_in_scan(ctx, net.ssid.as_bytes())?;
    set_ok(ctx, net.ssid.as_bytes(), net.password.as_bytes())?;
    apply_ok(ctx)?;
    expect_connecting(ctx, "ApplyConfig")?;
    let c = expect_connected(ctx, net.ssid.as_bytes())?;
    let shown = show_connected(&c);
    match net.ip {
        Some(ip) => ensure!(
            c.ip4_addr == ip.to_string(),
            "connected: ip4_addr {:?}, expected {ip} (device file) — {shown}",
            c.ip4_addr
        ),
        None => {
            let ok = c
                .ip4_addr
                .parse::<Ipv4Addr>()
                .is_ok_and(|a| !a.is_unspecified());
            ensure!(
                ok,
                "connected: ip4_addr {:?} is not a dotted-quad station address (spec §5.1) — {shown}",
                c.ip4_addr
            );
        }
    }
    ensure!(
        c.ssid == net.ssid.as_bytes(),
        "connected: ssid {:?}, expected {:?} (spec §5.1) — {shown}",
        String::from_utf8_lossy(&c.ssid),
        net.ssid
    );
    ensure!(
        c.bssid.len() == 6,
        "connected: bssid of {} bytes, expected 6 (spec §2.6) — {shown}",
        c.bssid.len()
    );
    ensure!(
        (1..=14).contains(&c.channel),
        "connected: channel {}, expected the AP's primary channel 1…14 (spec §5.1) — {shown}",
        c.channel
    );
    if ctx.env.profile == Profile::Zephyr {
        ensure!(
            c.auth_mode == WifiAuthMode::Wpa2Psk as i32,
            "connected: auth_mode {}, expected WPA2_PSK (3): the Zephyr port always reports it (spec §8.1) — {shown}",
            c.auth_mode
        );
    }
    let Some(seen) = seen else {
        return Ok(());
    };
    let scanned = scan::show_entry(&seen);
    ensure!(
        bssid_matches(ctx.env.profile, &c.bssid, &seen.bssid),
        "connected: bssid {}, but the scan saw {:?} at {} (spec §5.1; on ESP-IDF only bytes up to the first 0x00 are defined) — {shown}; scan {scanned}",
        hex::encode(&c.bssid),
        net.ssid,
        hex::encode(&seen.bssid)
    );
    ensure!(
        u32::try_from(c.channel).ok() == Some(seen.channel),
        "connected: channel {}, but the scan saw {:?} on channel {} — {shown}; scan {scanned}",
        c.channel,
        net.ssid,
        seen.channel
    );
    if esp_family(ctx.env.profile) {
        ensure!(
            c.auth_mode == seen.auth,
            "connected: auth_mode {}, but the scan saw {:?} with auth {}: both are the AP's raw ESP-IDF auth mode (spec §2.6, §5.1) — {shown}; scan {scanned}",
            c.auth_mode,
            net.ssid,
            seen.auth
        );
    }
    Ok(())
}

fn apply_auth_error(ctx: &mut Ctx<'_>) -> Step<()> {
    let net = wrong_password_network(ctx)?;
    let wrong = ctx.env.desc.wrong_password.clone();
    ctx.handshake()?;
    set_ok(ctx, net.ssid.as_bytes(), wrong.as_bytes())?;
    apply_ok(ctx)?;
    expect_failure(
        ctx,
        WifiConnectFailedReason::AuthError,
        "vectors/esp-idf/wifi_auth_error_then_reset.json step 7",
    )
}

fn apply_not_found(ctx: &mut Ctx<'_>) -> Step<()> {
    let unknown = ctx.env.desc.unknown_ssid.clone();
    ctx.handshake()?;
    set_ok(ctx, unknown.as_bytes(), b"whatever1")?;
    apply_ok(ctx)?;
    expect_connecting(ctx, "ApplyConfig")?;
    expect_failure(
        ctx,
        WifiConnectFailedReason::NetworkNotFound,
        "vectors/esp-idf/wifi_network_not_found.json step 8",
    )
}

fn conn_attempts(ctx: &mut Ctx<'_>) -> Step<()> {
    let n = ctx.env.desc.wifi_conn_attempts;
    let net = wrong_password_network(ctx)?;
    let wrong = ctx.env.desc.wrong_password.clone();
    ctx.handshake()?;
    set_ok(ctx, net.ssid.as_bytes(), wrong.as_bytes())?;
    apply_ok(ctx)?;
    let deadline = Instant::now() + Duration::from_millis(ctx.env.desc.timing.connect_ms);
    let mut seen: Vec<u32> = Vec::new();
    let last = loop {
        let s = ctx.status()?;
        if s.sta_state != WifiStationState::Connecting as i32 {
            break s;
        }
        match &s.state {
            None => {}
            Some(State::AttemptFailed(a)) => {
                let r = a.attempts_remaining;
                ensure!(
                    r < n,
                    "attempt_failed{{attempts_remaining {r}}} with wifi_conn_attempts = {n}: after a failed attempt fewer than {n} remain (spec §5.1; vectors/esp-idf/wifi_conn_attempts.json steps 6, 8)"
                );
                if let Some(&prev) = seen.last() {
                    ensure!(
                        r <= prev,
                        "attempts_remaining went up from {prev} to {r} (spec §5.1: remaining = N − completed)"
                    );
                }
                seen.push(r);
            }
            Some(_) => {
                return Err(Stop::Fail(format!(
                    "GetStatus while retrying: {}, expected Connecting with no detail or attempt_failed (spec §5.1)",
                    show(&s)
                )))
            }
        }
        ensure!(
            Instant::now() < deadline,
            "station still Connecting after {} ms (wifi_conn_attempts = {n})",
            ctx.env.desc.timing.connect_ms
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    ensure!(
        last.sta_state == WifiStationState::ConnectionFailed as i32
            && last.state == Some(State::FailReason(WifiConnectFailedReason::AuthError as i32)),
        "final GetStatus: {}, expected ConnectionFailed with fail_reason AuthError after {n} attempts (spec §5.1; vectors/esp-idf/wifi_conn_attempts.json step 10)",
        show(&last)
    );
    if n >= 2 {
        ensure!(
            !seen.is_empty(),
            "no GetStatus showed attempt_failed before the final failure although wifi_conn_attempts = {n}: the intermediate state is Connecting + attempt_failed{{attempts_remaining}} (spec §5.1; vectors/esp-idf/wifi_conn_attempts.json steps 6, 8)"
        );
    }
    Ok(())
}

fn apply_twice(ctx: &mut Ctx<'_>) -> Step<()> {
    let net = ctx.network()?;
    ctx.handshake()?;
    set_ok(ctx, net.ssid.as_bytes(), net.password.as_bytes())?;
    apply_ok(ctx)?;
    set_ok(ctx, net.ssid.as_bytes(), net.password.as_bytes())?;
    apply_refused_unless_zephyr(
        ctx,
        "while the first one is connecting",
        "spec §5.1, §8.1 \"ApplyConfig repeat\"",
    )?;
    // The refused apply must not disturb the connection under way.
    let c = expect_connected(ctx, net.ssid.as_bytes())?;
    ensure!(
        c.ssid == net.ssid.as_bytes(),
        "connected to {:?}, expected {:?}",
        String::from_utf8_lossy(&c.ssid),
        net.ssid
    );
    Ok(())
}

fn apply_after_failure(ctx: &mut Ctx<'_>) -> Step<()> {
    let net = wrong_password_network(ctx)?;
    let wrong = ctx.env.desc.wrong_password.clone();
    ctx.handshake()?;
    set_ok(ctx, net.ssid.as_bytes(), wrong.as_bytes())?;
    apply_ok(ctx)?;
    expect_failure(
        ctx,
        WifiConnectFailedReason::AuthError,
        "vectors/esp-idf/wifi_auth_error_then_reset.json step 7",
    )?;
    set_ok(ctx, net.ssid.as_bytes(), net.password.as_bytes())?;
    apply_refused_unless_zephyr(
        ctx,
        "after a failure, without CtrlReset",
        "spec §5.1; vectors/esp-idf/wifi_auth_error_then_reset.json step 9",
    )
}

fn set_after_success(ctx: &mut Ctx<'_>) -> Step<()> {
    let net = ctx.network()?;
    ctx.handshake()?;
    set_ok(ctx, net.ssid.as_bytes(), net.password.as_bytes())?;
    apply_ok(ctx)?;
    expect_connected(ctx, net.ssid.as_bytes())?;
    // Auto-stop tears the service down 1 s after that Connected answer (spec §6.2): go on at once.
    set_ok(ctx, net.ssid.as_bytes(), net.password.as_bytes())?;
    apply_refused_unless_zephyr(
        ctx,
        "after success",
        "spec §5.1 \"already applied in this provisioning run\"",
    )
}

fn bssid_zero_byte(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let all = scan::scan_list(ctx)?;
    let nets = ctx.env.desc.networks.clone();
    // A joinable AP (a network of the device file, or an open one) whose BSSID has a 0x00 before its
    // last byte, so that bytes after it exist.
    let has_zero = |e: &WiFiScanResult| e.bssid.len() == 6 && e.bssid[..5].contains(&0);
    let pick = all
        .iter()
        .filter(|e| has_zero(e))
        .find_map(|e| {
            nets.iter()
                .find(|n| n.ssid.as_bytes() == e.ssid)
                .map(|n| (e.clone(), n.password.clone().into_bytes()))
        })
        .or_else(|| {
            all.iter()
                .find(|e| has_zero(e) && e.auth == WifiAuthMode::Open as i32)
                .map(|e| (e.clone(), Vec::new()))
        });
    let Some((ap, pass)) = pick else {
        return Err(Stop::Skip(format!(
            "no joinable AP (a network of the device file, or an open one) has a 0x00 byte in its BSSID; scan: {}",
            all.iter().map(scan::show_entry).collect::<Vec<_>>().join(", ")
        )));
    };
    set_ok(ctx, &ap.ssid, &pass)?;
    apply_ok(ctx)?;
    let c = expect_connected(ctx, &ap.ssid)?;
    let zero = ap.bssid.iter().position(|&b| b == 0).unwrap_or(5);
    ensure!(
        c.bssid.len() == 6,
        "connected to {:?} (BSSID {}): GetStatus bssid has {} bytes, expected 6 — ESP-IDF keeps the length 6 even though it copies the BSSID as a string (spec §5.1 quirk; vectors/esp-idf/wifi_connected_bssid_zero_byte.json step 5)",
        String::from_utf8_lossy(&ap.ssid),
        hex::encode(&ap.bssid),
        c.bssid.len()
    );
    ensure!(
        bssid_matches(ctx.env.profile, &c.bssid, &ap.bssid),
        "connected to {:?}: GetStatus bssid {}, scan BSSID {}; expected bytes 0…{zero} to match{} (spec §5.1)",
        String::from_utf8_lossy(&ap.ssid),
        hex::encode(&c.bssid),
        hex::encode(&ap.bssid),
        if esp_family(ctx.env.profile) {
            " (later bytes are heap contents on ESP-IDF, vectors/esp-idf/wifi_connected_bssid_zero_byte.json step 5)"
        } else {
            ", and the rest too"
        }
    );
    Ok(())
}
