//! `prov-scan`: ScanStart, ScanStatus and ScanResult paging (spec §5.2, §7.1, §8.1).
//!
//! Paging follows the clients of spec §8.3: esp_prov asks for 4 entries per call over BLE and up to
//! 100 (clamped to the remaining count) over SoftAP; Android always 4. Every page must come back whole
//! with status Success; only a request past the stored results gets the partial list + InternalError
//! (ESP-IDF), and a request past the device's maximum (default 16) gets no response at all.
//!
//! This module holds the catalogue and the helpers shared with the config cases; `start` has the
//! ScanStart/ScanStatus cases, `result` the ScanResult paging, bounds and entry cases.

use crate::case::Group::Scan as G;

use crate::case::{session_possible, Case, Ctx, Env, Leaves, Step, Stop};
use crate::ensure;
use crate::steps::scan::read_all;
use prov_client::messages;
use prov_client::Profile;

mod result;
mod start;

use result::{
    beyond_count, beyond_max, count_zero, fields, finds_network, order, page_100, page_3, page_4,
    page_5, result_before_scan, result_missing_payload,
};
use start::{
    nonblocking, start_blocking, start_missing_payload, start_while_running, status_before_scan,
};

/// The scan cases.
pub fn cases() -> Vec<Case> {
    // The two "before any scan" cases come first: on a device that is not fresh per case the others
    // leave results behind (the runner keeps catalogue order among non-disturbing cases).
    vec![
        G.case("SCAN-STATUS-BEFORE-SCAN", "ScanStatus before any scan: Success, no scan running, 0 results", session_possible, status_before_scan),
        G.case("SCAN-RESULT-BEFORE-SCAN", "ScanResult before any scan: no entries, status InternalError (ESP-IDF) / Success (Zephyr)", session_possible, result_before_scan),
        G.case("SCAN-START-BLOCKING", "a blocking ScanStart answers Success once the scan is over: ScanStatus then says finished, 1…16 results", session_possible, start_blocking).leaves(Leaves::Scanned),
        G.case("SCAN-RESULT-PAGE-4", "ScanResult 4 entries per call (esp_prov BLE, Android) gives the whole list, each page Success", session_possible, page_4).leaves(Leaves::Scanned),
        G.case("SCAN-RESULT-PAGE-100", "ScanResult up to 100 entries per call, clamped to the count (esp_prov SoftAP), gives the whole list", session_possible, page_100).leaves(Leaves::Scanned),
        G.case("SCAN-RESULT-PAGE-3", "ScanResult in pages of 3 gives the same list as one entry at a time", session_possible, page_3).leaves(Leaves::Scanned),
        G.case("SCAN-RESULT-PAGE-5", "ScanResult in pages of 5 gives the same list as one entry at a time", session_possible, page_5).leaves(Leaves::Scanned),
        G.case("SCAN-RESULT-COUNT-ZERO", "ScanResult with count 0 answers an empty list with Success", session_possible, count_zero).leaves(Leaves::Scanned),
        G.case("SCAN-RESULT-BEYOND-COUNT", "ScanResult past the stored results (below 16) answers the entries that exist + InternalError (ESP-IDF)", session_possible, beyond_count).leaves(Leaves::Scanned),
        G.case("SCAN-RESULT-BEYOND-MAX", "ScanResult with start_index ≥ 16 or start_index + count > 16 gets no response (ESP-IDF) and the session goes on", session_possible, beyond_max).leaves(Leaves::Scanned),
        G.case("SCAN-RESULT-ORDER", "scan results come strongest RSSI first (ESP-IDF; the Zephyr port keeps discovery order)", order_applies, order).leaves(Leaves::Scanned),
        G.case("SCAN-RESULT-FIELDS", "every scan entry has an SSID of 1…32 bytes, a 6-byte BSSID, channel 1…14, a negative RSSI and a known auth mode", session_possible, fields).leaves(Leaves::Scanned),
        G.case("SCAN-FINDS-NETWORK", "the scan lists the device file's first network", session_possible, finds_network).leaves(Leaves::Scanned),
        G.case("SCAN-NONBLOCKING", "a non-blocking ScanStart answers at once; ScanStatus shows it running, then finished with results", session_possible, nonblocking).leaves(Leaves::Scanned),
        G.case("SCAN-START-WHILE-RUNNING", "ScanStart while a scan runs answers Success at once, even when blocking (ESP-IDF)", esp_only, start_while_running).leaves(Leaves::Scanned),
        G.case("SCAN-START-MISSING-PAYLOAD", "ScanStart without cmd_scan_start gets no response; the session and the stored results survive", session_possible, start_missing_payload).leaves(Leaves::Scanned),
        G.case("SCAN-RESULT-MISSING-PAYLOAD", "ScanResult without cmd_scan_result (or with another member) gets no response; the session and results survive", session_possible, result_missing_payload).leaves(Leaves::Scanned),
    ]
}

fn order_applies(env: &Env<'_>) -> Option<String> {
    session_possible(env).or_else(|| {
        (env.profile == Profile::Zephyr).then(|| {
            "the Zephyr port reports scan results in discovery order, which the suite cannot know (spec §8.1)".into()
        })
    })
}

fn esp_only(env: &Env<'_>) -> Option<String> {
    session_possible(env).or_else(|| {
        (env.profile == Profile::Zephyr).then(|| {
            "ScanStart during a running scan is not specified for the Zephyr port (spec §8.1)"
                .into()
        })
    })
}

/// After a rejected request: the session still answers and the stored results are still there (a
/// reboot would lose both).
fn still_there(ctx: &mut Ctx<'_>, n: u32, what: &str) -> Step<()> {
    let p = ctx.call_maybe(
        "prov-scan",
        &messages::scan_status(),
        "ScanStatus after the malformed request",
    )?;
    let Some(p) = p else {
        return Err(Stop::Fail(format!(
            "ScanStatus after {what} got no response: the session is gone (the device crashed and rebooted? \
             spec §7.1: current firmware rejects the request and keeps working)"
        )));
    };
    let st = messages::decode_resp_scan_status(&p)
        .map_err(|e| Stop::Fail(format!("ScanStatus after {what}: {e}")))?;
    ensure!(
        st.body.scan_finished && st.body.result_count == n,
        "ScanStatus after {what}: scan_finished {}, result_count {}, expected the {n} stored results to survive (results persist until the next ScanStart, spec §5.2; a reboot loses them)",
        st.body.scan_finished,
        st.body.result_count
    );
    if n > 0 {
        read_all(ctx, n, 4)?;
    }
    Ok(())
}
