//! The ScanStart and ScanStatus cases: blocking and non-blocking scans, a ScanStart during a running
//! scan, the status before any scan and a malformed ScanStart (spec §5.2, §7.1, §8.1).

use std::time::Duration;

use proto::wifi_prov::RespScanStatus;

use super::still_there;
use crate::case::{short_hex, Ctx, Step, Stop};
use crate::ensure;
use crate::steps::config::esp_family;
use crate::steps::scan::{
    read_all, scan_blocking, scan_start_ok, scan_status, SCAN_DEADLINE, SCAN_MAX,
};

/// Polls ScanStatus (from `st`) until the scan is finished; after [`SCAN_DEADLINE`] fails with
/// `late(seconds)`.
fn wait_finished(
    ctx: &mut Ctx<'_>,
    mut st: RespScanStatus,
    late: impl Fn(u64) -> String,
) -> Step<RespScanStatus> {
    let mut deadline = ctx.deadline(SCAN_DEADLINE);
    while !st.scan_finished {
        ensure!(!ctx.expired(&deadline), "{}", late(SCAN_DEADLINE.as_secs()));
        ctx.tick(&mut deadline, Duration::from_millis(200))?;
        st = scan_status(ctx)?;
    }
    Ok(st)
}

pub(super) fn start_blocking(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let raw = scan_start_ok(ctx, true, "blocking ScanStart")?;
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

pub(super) fn status_before_scan(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn nonblocking(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    scan_start_ok(ctx, false, "non-blocking ScanStart")?;
    let first = scan_status(ctx)?;
    if esp_family(ctx.env.profile) {
        ensure!(
            !first.scan_finished,
            "ScanStatus right after a non-blocking ScanStart says the scan is finished; the answer comes at once and the scan takes over a second (spec §5.2)"
        );
    }
    let st = wait_finished(ctx, first, |s| {
        format!("ScanStatus still says scan_finished = false {s} s after a non-blocking ScanStart")
    })?;
    if !ctx.env.desc.networks.is_empty() {
        ensure!(
            st.result_count >= 1,
            "the non-blocking scan finished with result_count 0, but the device file lists a network in range"
        );
    }
    read_all(ctx, st.result_count, 4)?;
    Ok(())
}

pub(super) fn start_while_running(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    scan_start_ok(ctx, false, "non-blocking ScanStart")?;
    scan_start_ok(ctx, true, "blocking ScanStart during a running scan")?;
    let st = scan_status(ctx)?;
    ensure!(
        !st.scan_finished,
        "after a blocking ScanStart sent during a running scan, ScanStatus says finished: the second ScanStart waited for the scan, but it must answer at once without restarting it (spec §5.2)"
    );
    let st = wait_finished(ctx, st, |s| format!("the scan did not finish within {s} s"))?;
    read_all(ctx, st.result_count, 4)?;
    Ok(())
}

pub(super) fn start_missing_payload(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let n = scan_blocking(ctx)?;
    // `msg` written out explicitly (08 00): an empty plaintext would fail earlier, on the empty
    // decrypt buffer (spec §7.1), and never reach the handler.
    let what = "ScanStart with no cmd_scan_start (08 00)";
    if let Some(p) = ctx.call_maybe("prov-scan", &[0x08, 0x00], what)? {
        return Err(Stop::Fail(format!(
            "{what}: answered {}, expected no response (spec §5.2, §7.1 \"SetConfig/ScanStart/ScanResult whose payload is missing\")",
            short_hex(&p)
        )));
    }
    still_there(ctx, n, what)
}
