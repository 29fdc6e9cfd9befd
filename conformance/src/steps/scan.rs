//! Steps of `prov-scan` shared by the case groups: ScanStart with esp_prov's parameters, ScanStatus,
//! ScanResult paging as the clients of spec §8.3 do it (spec §5.2).

use std::time::Duration;

use proto::protocomm::Status;
use proto::wifi_prov::{RespScanStatus, WiFiScanResult};

use crate::case::{Ctx, Step, Stop};
use crate::ensure;
use crate::link::Transport;
use crate::steps::config::no_response_fail;
use prov_client::messages;
use prov_client::Profile;

/// `CONFIG_WIFI_PROV_SCAN_MAX_ENTRIES` default (spec §5.2).
pub(crate) const SCAN_MAX: u32 = 16;

/// The Zephyr port answers at most this many entries per ScanResult (nanopb, spec §8.1).
pub(crate) const ZEPHYR_PAGE: usize = 4;

/// Longest wait for a non-blocking scan to finish.
pub(crate) const SCAN_DEADLINE: Duration = Duration::from_secs(20);

/// ScanStart with the parameters esp_prov uses on this transport (spec §5.2: SoftAP `group_channels`
/// 5, otherwise 0; `period_ms` 120). Returns the outer status and the plaintext answer.
pub(crate) fn scan_start(ctx: &mut Ctx<'_>, blocking: bool) -> Step<(i32, Vec<u8>)> {
    let group = if ctx.env.transport == Transport::Http {
        5
    } else {
        0
    };
    let note = if blocking {
        "ScanStart (blocking)"
    } else {
        "ScanStart (non-blocking)"
    };
    let p = ctx.call(
        "prov-scan",
        &messages::scan_start(blocking, false, group, 120),
        note,
    )?;
    let r = messages::decode_resp_scan_start(&p)
        .map_err(|e| Stop::Fail(format!("{note}: {e} (spec §5.2)")))?;
    Ok((r.status, p))
}

/// [`scan_start`] that must answer Success (`what` names it in the failure); returns the answer.
pub(crate) fn scan_start_ok(ctx: &mut Ctx<'_>, blocking: bool, what: &str) -> Step<Vec<u8>> {
    let (status, raw) = scan_start(ctx, blocking)?;
    ensure!(
        status == Status::Success as i32,
        "{what} answered status {}, expected Success (spec §5.2)",
        messages::describe_status(status)
    );
    Ok(raw)
}

/// ScanStatus (`08 02`, as esp_prov sends it).
pub(crate) fn scan_status(ctx: &mut Ctx<'_>) -> Step<RespScanStatus> {
    let p = ctx.call("prov-scan", &messages::scan_status(), "ScanStatus")?;
    let r = messages::decode_resp_scan_status(&p)
        .map_err(|e| Stop::Fail(format!("ScanStatus: {e} (spec §5.2)")))?;
    ensure!(
        r.is_success(),
        "ScanStatus answered status {}, expected Success (spec §5.2)",
        messages::describe_status(r.status)
    );
    Ok(r.body)
}

/// One ScanResult answer.
pub(crate) struct Page {
    /// Outer status.
    pub(crate) status: i32,
    /// Entries.
    pub(crate) entries: Vec<WiFiScanResult>,
    /// Plaintext answer.
    pub(crate) raw: Vec<u8>,
}

/// ScanResult; `None` when the device gave no response.
pub(crate) fn scan_result(ctx: &mut Ctx<'_>, start: u32, count: u32) -> Step<Option<Page>> {
    let note = format!("ScanResult start_index {start} count {count}");
    let Some(p) = ctx.call_maybe("prov-scan", &messages::scan_result(start, count), &note)? else {
        return Ok(None);
    };
    let r = messages::decode_resp_scan_result(&p)
        .map_err(|e| Stop::Fail(format!("{note}: {e} (spec §5.2)")))?;
    Ok(Some(Page {
        status: r.status,
        entries: r.body.entries,
        raw: p,
    }))
}

/// A blocking scan that must succeed; returns the result count ScanStatus then reports.
pub(crate) fn scan_blocking(ctx: &mut Ctx<'_>) -> Step<u32> {
    scan_start_ok(ctx, true, "blocking ScanStart")?;
    let st = scan_status(ctx)?;
    ensure!(
        st.scan_finished,
        "ScanStatus right after a blocking ScanStart says scan_finished = false; a blocking ScanStart answers only once the scan is over (spec §5.2)"
    );
    Ok(st.result_count)
}

/// Reads `n` results in pages of `page` (each request clamped to the remaining count, as esp_prov
/// does). ESP-IDF must answer every page whole with Success; the Zephyr port may cut a page to 4.
pub(crate) fn read_all(ctx: &mut Ctx<'_>, n: u32, page: u32) -> Step<Vec<WiFiScanResult>> {
    let mut out: Vec<WiFiScanResult> = Vec::new();
    while (out.len() as u32) < n {
        let start = out.len() as u32;
        let want = page.min(n - start);
        let Some(r) = scan_result(ctx, start, want)? else {
            return Err(no_response_fail(
                &format!("ScanResult start_index {start} count {want} (of {n} results)"),
                "a page inside the stored results is answered with Success (spec §5.2)",
            ));
        };
        ensure!(
            r.status == Status::Success as i32,
            "ScanResult start_index {start} count {want} (of {n} results) answered status {}, expected Success (spec §5.2)",
            messages::describe_status(r.status)
        );
        let got = r.entries.len();
        if ctx.env.profile == Profile::Zephyr {
            ensure!(
                got >= 1 && got <= (want as usize).min(ZEPHYR_PAGE),
                "ScanResult start_index {start} count {want}: {got} entries, expected 1…{} (Zephyr: at most 4 per response, spec §8.1)",
                (want as usize).min(ZEPHYR_PAGE)
            );
        } else {
            ensure!(
                got == want as usize,
                "ScanResult start_index {start} count {want} (of {n} results): {got} entries, expected {want} (spec §5.2)"
            );
        }
        out.extend(r.entries);
    }
    Ok(out)
}

/// A blocking scan, then the whole list one entry at a time (every device supports count 1).
pub(crate) fn scan_list(ctx: &mut Ctx<'_>) -> Step<Vec<WiFiScanResult>> {
    let n = scan_blocking(ctx)?;
    read_all(ctx, n, 1)
}

/// One entry, for messages.
pub(crate) fn show_entry(e: &WiFiScanResult) -> String {
    format!(
        "{{ssid {:?}, bssid {}, channel {}, rssi {}, auth {}}}",
        String::from_utf8_lossy(&e.ssid),
        hex::encode(&e.bssid),
        e.channel,
        e.rssi,
        e.auth
    )
}

/// A list of entries, for messages.
pub(crate) fn show_entries(es: &[WiFiScanResult]) -> String {
    let v: Vec<String> = es.iter().map(show_entry).collect();
    format!("[{}]", v.join(", "))
}
