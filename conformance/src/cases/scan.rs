//! `prov-scan`: ScanStart, ScanStatus and ScanResult paging (spec §5.2, §7.1, §8.1).
//!
//! Paging follows the clients of spec §8.3: esp_prov asks for 4 entries per call over BLE and up to
//! 100 (clamped to the remaining count) over SoftAP; Android always 4. Every page must come back whole
//! with status Success; only a request past the stored results gets the partial list + InternalError
//! (ESP-IDF), and a request past the device's maximum (default 16) gets no response at all.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use proto::protocomm::Status;
use proto::wifi_prov::{RespScanStatus, WiFiScanResult};

use crate::case::{session_possible, short_hex, Case, Ctx, Env, Group, Step, Stop};
use crate::cases::config::{call_maybe, esp_family, no_response_fail};
use crate::client::messages;
use crate::ensure;
use crate::link::Transport;
use crate::profile::Profile;

/// `CONFIG_WIFI_PROV_SCAN_MAX_ENTRIES` default (spec §5.2).
pub(crate) const SCAN_MAX: u32 = 16;

/// The Zephyr port answers at most this many entries per ScanResult (nanopb, spec §8.1).
const ZEPHYR_PAGE: usize = 4;

/// Longest wait for a non-blocking scan to finish.
const SCAN_DEADLINE: Duration = Duration::from_secs(20);

/// The scan cases.
pub fn cases() -> Vec<Case> {
    // The two "before any scan" cases come first: on a device that is not fresh per case the others
    // leave results behind (the runner keeps catalogue order among non-disturbing cases).
    vec![
        case("SCAN-STATUS-BEFORE-SCAN", "ScanStatus before any scan: Success, no scan running, 0 results", session_possible, status_before_scan),
        case("SCAN-RESULT-BEFORE-SCAN", "ScanResult before any scan: no entries, status InternalError (ESP-IDF) / Success (Zephyr)", session_possible, result_before_scan),
        case("SCAN-START-BLOCKING", "a blocking ScanStart answers Success once the scan is over: ScanStatus then says finished, 1…16 results", session_possible, start_blocking),
        case("SCAN-RESULT-PAGE-4", "ScanResult 4 entries per call (esp_prov BLE, Android) gives the whole list, each page Success", session_possible, page_4),
        case("SCAN-RESULT-PAGE-100", "ScanResult up to 100 entries per call, clamped to the count (esp_prov SoftAP), gives the whole list", session_possible, page_100),
        case("SCAN-RESULT-PAGE-3", "ScanResult in pages of 3 gives the same list as one entry at a time", session_possible, page_3),
        case("SCAN-RESULT-PAGE-5", "ScanResult in pages of 5 gives the same list as one entry at a time", session_possible, page_5),
        case("SCAN-RESULT-COUNT-ZERO", "ScanResult with count 0 answers an empty list with Success", session_possible, count_zero),
        case("SCAN-RESULT-BEYOND-COUNT", "ScanResult past the stored results (below 16) answers the entries that exist + InternalError (ESP-IDF)", session_possible, beyond_count),
        case("SCAN-RESULT-BEYOND-MAX", "ScanResult with start_index ≥ 16 or start_index + count > 16 gets no response (ESP-IDF) and the session goes on", session_possible, beyond_max),
        case("SCAN-RESULT-ORDER", "scan results come strongest RSSI first (ESP-IDF; the Zephyr port keeps discovery order)", order_applies, order),
        case("SCAN-RESULT-FIELDS", "every scan entry has an SSID of 1…32 bytes, a 6-byte BSSID, channel 1…14, a negative RSSI and a known auth mode", session_possible, fields),
        case("SCAN-FINDS-NETWORK", "the scan lists the device file's first network", session_possible, finds_network),
        case("SCAN-NONBLOCKING", "a non-blocking ScanStart answers at once; ScanStatus shows it running, then finished with results", session_possible, nonblocking),
        case("SCAN-START-WHILE-RUNNING", "ScanStart while a scan runs answers Success at once, even when blocking (ESP-IDF)", esp_only, start_while_running),
        case("SCAN-START-MISSING-PAYLOAD", "ScanStart without cmd_scan_start gets no response; the session and the stored results survive", session_possible, start_missing_payload),
        case("SCAN-RESULT-MISSING-PAYLOAD", "ScanResult without cmd_scan_result (or with another member) gets no response; the session and results survive", session_possible, result_missing_payload),
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
        group: Group::Scan,
        title,
        applies,
        disturbs: false,
        run,
    }
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

// ---- helpers shared with the config cases --------------------------------------------------------

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
    let Some(p) = call_maybe(
        ctx,
        "prov-scan",
        &messages::scan_result(start, count),
        &note,
    )?
    else {
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
    let (status, _) = scan_start(ctx, true)?;
    ensure!(
        status == Status::Success as i32,
        "blocking ScanStart answered status {}, expected Success (spec §5.2)",
        messages::describe_status(status)
    );
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

fn show_entries(es: &[WiFiScanResult]) -> String {
    let v: Vec<String> = es.iter().map(show_entry).collect();
    format!("[{}]", v.join(", "))
}

// ---- cases ----------------------------------------------------------------------------------------

fn start_blocking(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let (status, raw) = scan_start(ctx, true)?;
    ensure!(
        status == Status::Success as i32,
        "blocking ScanStart answered status {}, expected Success (spec §5.2)",
        messages::describe_status(status)
    );
    if esp_family(ctx.env.profile) {
        ensure!(
            raw == [0x08, 0x01, 0x5a, 0x00],
            "ScanStart answer {}, expected 08015a00 (spec §5.2)",
            hex::encode(&raw)
        );
    }
    let st = scan_status(ctx)?;
    ensure!(
        st.scan_finished,
        "ScanStatus after a blocking ScanStart: scan_finished = false; the blocking answer must wait for the end of the scan (spec §5.2)"
    );
    if !ctx.env.desc.networks.is_empty() {
        ensure!(
            st.result_count >= 1,
            "ScanStatus after a blocking scan: result_count 0, but the device file lists a network in range"
        );
    }
    if esp_family(ctx.env.profile) {
        ensure!(
            st.result_count <= SCAN_MAX,
            "ScanStatus result_count {}, more than the maximum of {SCAN_MAX} stored results (spec §5.2)",
            st.result_count
        );
    }
    Ok(())
}

fn status_before_scan(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let st = scan_status(ctx)?;
    ensure!(
        st.result_count == 0,
        "ScanStatus before any scan: result_count {}, expected 0 (spec §5.2)",
        st.result_count
    );
    if esp_family(ctx.env.profile) {
        ensure!(
            st.scan_finished,
            "ScanStatus before any scan: scan_finished = false, expected true (it means \"no scan running\", spec §5.2)"
        );
    }
    Ok(())
}

fn result_before_scan(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let Some(r) = scan_result(ctx, 0, 3)? else {
        return Err(no_response_fail(
            "ScanResult start_index 0 count 3 before any scan",
            "an answer with no entries (vectors/esp-idf/bad_inputs_sec1.json step 27)",
        ));
    };
    ensure!(
        r.entries.is_empty(),
        "ScanResult before any scan returned {} entries: {}",
        r.entries.len(),
        show_entries(&r.entries)
    );
    if esp_family(ctx.env.profile) {
        ensure!(
            r.status == Status::InternalError as i32 && r.raw == [0x08, 0x05, 0x10, 0x05, 0x7a, 0x00],
            "ScanResult before any scan answered {} (status {}), expected 080510057a00 = no entries + InternalError (spec §5.2, vectors/esp-idf/bad_inputs_sec1.json step 27)",
            hex::encode(&r.raw),
            messages::describe_status(r.status)
        );
    } else {
        ensure!(
            r.status == Status::Success as i32,
            "ScanResult before any scan answered status {}, expected Success with an empty list (Zephyr, spec §8.1)",
            messages::describe_status(r.status)
        );
    }
    Ok(())
}

fn pages(ctx: &mut Ctx<'_>, page: u32) -> Step<()> {
    ctx.handshake()?;
    let n = scan_blocking(ctx)?;
    if n == 0 {
        return Err(Stop::Skip(
            "the scan found no access point: nothing to page through".into(),
        ));
    }
    let paged = read_all(ctx, n, page)?;
    let single = read_all(ctx, n, 1)?;
    ensure!(
        paged == single,
        "{n} results read in pages of {page} differ from the same results read one at a time:\n  pages of {page}: {}\n  one at a time: {}",
        show_entries(&paged),
        show_entries(&single)
    );
    Ok(())
}

fn page_4(ctx: &mut Ctx<'_>) -> Step<()> {
    pages(ctx, 4)
}

fn page_100(ctx: &mut Ctx<'_>) -> Step<()> {
    pages(ctx, 100)
}

fn page_3(ctx: &mut Ctx<'_>) -> Step<()> {
    pages(ctx, 3)
}

fn page_5(ctx: &mut Ctx<'_>) -> Step<()> {
    pages(ctx, 5)
}

fn count_zero(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    scan_blocking(ctx)?;
    let Some(r) = scan_result(ctx, 0, 0)? else {
        return Err(no_response_fail(
            "ScanResult start_index 0 count 0",
            "an empty list with Success (spec §5.2)",
        ));
    };
    ensure!(
        r.status == Status::Success as i32 && r.entries.is_empty(),
        "ScanResult count 0 answered status {} with {} entries, expected an empty list with Success (spec §5.2)",
        messages::describe_status(r.status),
        r.entries.len()
    );
    if esp_family(ctx.env.profile) {
        ensure!(
            r.raw == [0x08, 0x05, 0x7a, 0x00],
            "ScanResult count 0 answered {}, expected 08057a00 (spec §5.2)",
            hex::encode(&r.raw)
        );
    }
    Ok(())
}

fn beyond_count(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let n = scan_blocking(ctx)?;
    if n >= SCAN_MAX {
        return Err(Stop::Skip(format!(
            "the scan stored {n} results, the maximum: no index between the count and the maximum to ask for"
        )));
    }
    let all = read_all(ctx, n, 1)?;
    let zephyr = ctx.env.profile == Profile::Zephyr;
    // (start, count) probes that run past the end, with the entries that exist in range.
    let mut probes = vec![(0, n + 1), (n, 1)];
    if n >= 1 {
        probes.push((n - 1, 2));
    }
    for (start, count) in probes {
        let what = format!("ScanResult start_index {start} count {count} with {n} results stored");
        let Some(r) = scan_result(ctx, start, count)? else {
            return Err(no_response_fail(
                &what,
                "the entries that exist + status InternalError (spec §5.2, §7.1: only indices beyond the maximum of 16 get no response)",
            ));
        };
        let expected = &all[start as usize..];
        if zephyr {
            ensure!(
                r.status == Status::Success as i32,
                "{what}: status {}, expected Success (Zephyr: out-of-range requests answer what exists with Success, spec §8.1)",
                messages::describe_status(r.status)
            );
            ensure!(
                r.entries.len() <= expected.len() && r.entries[..] == expected[..r.entries.len()],
                "{what}: entries {}, expected at most the {} stored from index {start}: {}",
                show_entries(&r.entries),
                expected.len(),
                show_entries(expected)
            );
        } else {
            ensure!(
                r.status == Status::InternalError as i32,
                "{what}: status {} with {} entries {}, expected InternalError with the {} entries that exist (spec §5.2, §7.1 \"indices beyond the number of results\")",
                messages::describe_status(r.status),
                r.entries.len(),
                show_entries(&r.entries),
                expected.len()
            );
            ensure!(
                r.entries == expected,
                "{what}: entries {}, expected exactly the {} that exist: {} (spec §5.2: stop at the first missing entry)",
                show_entries(&r.entries),
                expected.len(),
                show_entries(expected)
            );
        }
    }
    Ok(())
}

fn beyond_max(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let n = scan_blocking(ctx)?;
    let probes = [
        (SCAN_MAX, 1),
        (0, SCAN_MAX + 1),
        (SCAN_MAX - 1, 2),
        (0, u32::MAX),
        (u32::MAX, 1),
    ];
    for (start, count) in probes {
        let what = format!("ScanResult start_index {start} count {count}");
        let r = scan_result(ctx, start, count)?;
        match (ctx.env.profile, r) {
            (Profile::Zephyr, None) => {
                return Err(no_response_fail(
                    &what,
                    "an empty list with Success (Zephyr, spec §8.1)",
                ))
            }
            (Profile::Zephyr, Some(r)) => ensure!(
                r.status == Status::Success as i32 && r.entries.len() <= ZEPHYR_PAGE,
                "{what}: status {} with {} entries, expected Success with at most {ZEPHYR_PAGE} entries (Zephyr: out-of-range requests answer what exists, spec §8.1)",
                messages::describe_status(r.status),
                r.entries.len()
            ),
            (_, None) => {}
            (_, Some(r)) => {
                return Err(Stop::Fail(format!(
                    "{what}: answered {} (status {}, {} entries), expected no response: indices beyond the maximum of {SCAN_MAX} are a transport error (spec §5.2, §7.1; vectors/esp-idf/bad_inputs_sec1.json step 26)",
                    short_hex(&r.raw),
                    messages::describe_status(r.status),
                    r.entries.len()
                )))
            }
        }
    }
    // The rejected requests must not have broken the session or touched the stored results.
    let st = scan_status(ctx)?;
    ensure!(
        st.result_count == n,
        "ScanStatus after the out-of-range requests: result_count {}, expected the {n} stored results (spec §5.2)",
        st.result_count
    );
    read_all(ctx, n, 4)?;
    Ok(())
}

fn order(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let all = scan_list(ctx)?;
    if all.len() < 2 {
        return Err(Stop::Skip(format!(
            "the scan found {} access point(s): no order to check",
            all.len()
        )));
    }
    for (i, w) in all.windows(2).enumerate() {
        ensure!(
            w[0].rssi >= w[1].rssi,
            "entry {i} has RSSI {} but entry {} has RSSI {}: results must come strongest first (spec §5.2); list: {}",
            w[0].rssi,
            i + 1,
            w[1].rssi,
            show_entries(&all)
        );
    }
    Ok(())
}

fn fields(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let all = scan_list(ctx)?;
    if all.is_empty() {
        return Err(Stop::Skip(
            "the scan found no access point: no fields to check".into(),
        ));
    }
    let esp = esp_family(ctx.env.profile);
    let mut bssids = HashSet::new();
    for (i, e) in all.iter().enumerate() {
        let show = show_entry(e);
        ensure!(
            !e.ssid.is_empty() && e.ssid.len() <= 32,
            "entry {i} {show}: SSID of {} bytes, expected 1…32 (hidden networks are not reported, spec §5.2)",
            e.ssid.len()
        );
        if esp {
            ensure!(
                !e.ssid.contains(&0),
                "entry {i} {show}: SSID contains a NUL byte; ESP-IDF reports the SSID up to the first NUL (spec §5.2)"
            );
        }
        ensure!(
            e.bssid.len() == 6,
            "entry {i} {show}: BSSID of {} bytes, expected 6 (spec §2.8)",
            e.bssid.len()
        );
        ensure!(
            bssids.insert(e.bssid.clone()),
            "entry {i} {show}: BSSID {} reported twice",
            hex::encode(&e.bssid)
        );
        ensure!(
            (1..=14).contains(&e.channel),
            "entry {i} {show}: channel {}, expected a Wi-Fi channel 1…14 (spec §5.2)",
            e.channel
        );
        ensure!(
            (-127..0).contains(&e.rssi),
            "entry {i} {show}: RSSI {}, expected a negative dBm value -127…-1 (spec §5.2)",
            e.rssi
        );
        ensure!(
            (0..=16).contains(&e.auth),
            "entry {i} {show}: auth {}, expected an ESP-IDF wifi_auth_mode_t 0…16 (spec §2.6)",
            e.auth
        );
    }
    Ok(())
}

fn finds_network(ctx: &mut Ctx<'_>) -> Step<()> {
    let net = ctx.network()?;
    ctx.handshake()?;
    let all = scan_list(ctx)?;
    ensure!(
        all.iter().any(|e| e.ssid == net.ssid.as_bytes()),
        "the scan does not list {:?}, the first network of the device file (a hidden network is never reported, spec §5.2); results: {}",
        net.ssid,
        show_entries(&all)
    );
    Ok(())
}

fn nonblocking(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let (status, _) = scan_start(ctx, false)?;
    ensure!(
        status == Status::Success as i32,
        "non-blocking ScanStart answered status {}, expected Success (spec §5.2)",
        messages::describe_status(status)
    );
    let first = scan_status(ctx)?;
    if esp_family(ctx.env.profile) {
        ensure!(
            !first.scan_finished,
            "ScanStatus right after a non-blocking ScanStart says the scan is finished; the answer comes at once and the scan takes over a second (spec §5.2)"
        );
    }
    let deadline = Instant::now() + SCAN_DEADLINE;
    let mut st = first;
    while !st.scan_finished {
        ensure!(
            Instant::now() < deadline,
            "ScanStatus still says scan_finished = false {} s after a non-blocking ScanStart",
            SCAN_DEADLINE.as_secs()
        );
        std::thread::sleep(Duration::from_millis(200));
        st = scan_status(ctx)?;
    }
    if !ctx.env.desc.networks.is_empty() {
        ensure!(
            st.result_count >= 1,
            "the non-blocking scan finished with result_count 0, but the device file lists a network in range"
        );
    }
    read_all(ctx, st.result_count, 4)?;
    Ok(())
}

fn start_while_running(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let (status, _) = scan_start(ctx, false)?;
    ensure!(
        status == Status::Success as i32,
        "non-blocking ScanStart answered status {}, expected Success (spec §5.2)",
        messages::describe_status(status)
    );
    let (status, _) = scan_start(ctx, true)?;
    ensure!(
        status == Status::Success as i32,
        "blocking ScanStart during a running scan answered status {}, expected Success (spec §5.2)",
        messages::describe_status(status)
    );
    let st = scan_status(ctx)?;
    ensure!(
        !st.scan_finished,
        "after a blocking ScanStart sent during a running scan, ScanStatus says finished: the second ScanStart waited for the scan, but it must answer at once without restarting it (spec §5.2)"
    );
    let deadline = Instant::now() + SCAN_DEADLINE;
    let mut st = st;
    while !st.scan_finished {
        ensure!(
            Instant::now() < deadline,
            "the scan did not finish within {} s",
            SCAN_DEADLINE.as_secs()
        );
        std::thread::sleep(Duration::from_millis(200));
        st = scan_status(ctx)?;
    }
    read_all(ctx, st.result_count, 4)?;
    Ok(())
}

/// After a rejected request: the session still answers and the stored results are still there (a
/// reboot would lose both).
fn still_there(ctx: &mut Ctx<'_>, n: u32, what: &str) -> Step<()> {
    let p = call_maybe(
        ctx,
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

fn start_missing_payload(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let n = scan_blocking(ctx)?;
    // `msg` written out explicitly (08 00): an empty plaintext would fail earlier, on the empty
    // decrypt buffer (spec §7.1), and never reach the handler.
    let what = "ScanStart with no cmd_scan_start (08 00)";
    if let Some(p) = call_maybe(ctx, "prov-scan", &[0x08, 0x00], what)? {
        return Err(Stop::Fail(format!(
            "{what}: answered {}, expected no response (spec §5.2, §7.1 \"SetConfig/ScanStart/ScanResult whose payload is missing\")",
            short_hex(&p)
        )));
    }
    still_there(ctx, n, what)
}

fn result_missing_payload(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let n = scan_blocking(ctx)?;
    for (what, plain) in [
        (
            "ScanResult with no cmd_scan_result (08 04)",
            &[0x08, 0x04][..],
        ),
        (
            "ScanResult carrying cmd_scan_status instead (08 04 62 00)",
            &[0x08, 0x04, 0x62, 0x00][..],
        ),
    ] {
        if let Some(p) = call_maybe(ctx, "prov-scan", plain, what)? {
            return Err(Stop::Fail(format!(
                "{what}: answered {}, expected no response (spec §5.2, §7.1 \"payload is missing or of the wrong oneof member\")",
                short_hex(&p)
            )));
        }
        still_there(ctx, n, what)?;
    }
    Ok(())
}
