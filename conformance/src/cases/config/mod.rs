//! `prov-config`: GetStatus, SetConfig, ApplyConfig and the Wi-Fi outcomes they lead to (spec §5.1,
//! §7.1, §8.1). Expectations come from the golden vectors (`wifi_*.json`, `bad_inputs_sec1.json`).
//!
//! This module holds the catalogue and the helpers shared with the scan, ctrl and custom cases;
//! `set` has the GetStatus/SetConfig validation cases, `apply` the ApplyConfig/outcome cases.

use crate::case::Group::Config as G;

use crate::case::{session_possible, Case, Env, Leaves};
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
        G.case("CFG-SET-SUCCESS", "SetConfig with the network's credentials answers Success, also when repeated", session_possible, set_success).leaves(Leaves::Staged),
        G.case("CFG-SET-SSID-TOO-LONG", "SetConfig with a 33-byte SSID answers InvalidArgument and stages nothing", session_possible, ssid_too_long),
        G.case("CFG-SET-PASSPHRASE-TOO-LONG", "SetConfig with a 64-byte passphrase answers InvalidArgument and stages nothing", session_possible, passphrase_too_long),
        G.case("CFG-SET-BSSID-LENGTH", "SetConfig with a BSSID of 1, 5, 7 or 16 bytes answers InvalidArgument; 6 bytes + channel is accepted", session_possible, bssid_length).leaves(Leaves::Staged),
        G.case("CFG-SET-MAX-LENGTHS", "SetConfig with a 32-byte SSID and a 63-byte passphrase answers Success", session_possible, max_lengths).leaves(Leaves::Staged),
        G.case("CFG-SET-EMPTY-SSID", "SetConfig with an empty SSID: Success (ESP-IDF) / InvalidArgument (Zephyr)", session_possible, empty_ssid).leaves(Leaves::Staged),
        G.case("CFG-SET-MISSING-PAYLOAD", "SetConfig without cmd_set_config (or with another member) gets no response; the session and staged credentials survive", session_possible, set_missing_payload).leaves(Leaves::Applied),
        G.case("CFG-APPLY-WITHOUT-SET", "ApplyConfig with nothing staged answers InternalError (ESP-IDF)", esp_only, apply_without_set),
        G.case("CFG-APPLY-CONNECTED", "SetConfig + ApplyConfig on the first network: Connecting, then Connected with its IP, SSID, BSSID, channel and auth mode", session_possible, apply_connected).leaves(Leaves::Applied),
        G.case("CFG-APPLY-AUTH-ERROR", "a wrong passphrase ends in ConnectionFailed with fail_reason AuthError", session_possible, apply_auth_error).leaves(Leaves::Applied),
        G.case("CFG-APPLY-NETWORK-NOT-FOUND", "an unknown SSID ends in ConnectionFailed with fail_reason NetworkNotFound", session_possible, apply_not_found).leaves(Leaves::Applied),
        G.case("CFG-APPLY-CONN-ATTEMPTS", "with wifi_conn_attempts = N, failed attempts show attempt_failed{remaining < N} before the final AuthError", conn_attempts_applies, conn_attempts).leaves(Leaves::Applied),
        G.case("CFG-APPLY-TWICE", "a second SetConfig + ApplyConfig while connecting: InternalError (ESP-IDF) / Success (Zephyr)", session_possible, apply_twice).leaves(Leaves::Applied),
        G.case("CFG-APPLY-AFTER-FAILURE", "after a failure, SetConfig is accepted but ApplyConfig answers InternalError until CtrlReset (ESP-IDF)", session_possible, apply_after_failure).leaves(Leaves::Applied),
        G.case("CFG-SET-AFTER-SUCCESS", "after Connected, SetConfig answers Success and ApplyConfig InternalError (ESP-IDF) / Success (Zephyr)", session_possible, set_after_success).leaves(Leaves::Applied),
        G.case("CFG-CONNECTED-BSSID-ZERO-BYTE", "connected to an AP whose BSSID holds a 0x00 byte, GetStatus still reports a 6-byte BSSID (bytes after the 0x00 are undefined on ESP-IDF)", session_possible, bssid_zero_byte).leaves(Leaves::Applied),
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
