//! The ScanResult cases: paging through the stored results, counts and indices out of range, the
//! order and fields of the entries, and malformed ScanResult requests (spec §5.2, §7.1, §8.1).

use std::collections::HashSet;

use proto::protocomm::Status;

use super::still_there;
use crate::case::{short_hex, Ctx, Step, Stop};
use crate::ensure;
use crate::steps::config::{esp_family, no_response_fail};
use crate::steps::scan::{
    read_all, scan_blocking, scan_list, scan_result, scan_status, show_entries, show_entry,
    SCAN_MAX, ZEPHYR_PAGE,
};
use prov_client::messages;
use prov_client::Profile;

pub(super) fn result_before_scan(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn page_4(ctx: &mut Ctx<'_>) -> Step<()> {
    pages(ctx, 4)
}

pub(super) fn page_100(ctx: &mut Ctx<'_>) -> Step<()> {
    pages(ctx, 100)
}

pub(super) fn page_3(ctx: &mut Ctx<'_>) -> Step<()> {
    pages(ctx, 3)
}

pub(super) fn page_5(ctx: &mut Ctx<'_>) -> Step<()> {
    pages(ctx, 5)
}

pub(super) fn count_zero(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn beyond_count(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn beyond_max(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn order(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn fields(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn finds_network(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn result_missing_payload(ctx: &mut Ctx<'_>) -> Step<()> {
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
        if let Some(p) = ctx.call_maybe("prov-scan", plain, what)? {
            return Err(Stop::Fail(format!(
                "{what}: answered {}, expected no response (spec §5.2, §7.1 \"payload is missing or of the wrong oneof member\")",
                short_hex(&p)
            )));
        }
        still_there(ctx, n, what)?;
    }
    Ok(())
}
