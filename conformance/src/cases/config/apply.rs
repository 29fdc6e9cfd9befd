//! The ApplyConfig cases: applying with nothing staged, the Connected / AuthError /
//! NetworkNotFound outcomes, retry attempts and repeated applies (spec §5.1, §6.2, §8.1).

use std::net::Ipv4Addr;
use std::time::Duration;

use proto::protocomm::Status;
use proto::wifi_prov::resp_get_status::State;
use proto::wifi_prov::{WiFiScanResult, WifiAuthMode, WifiConnectFailedReason, WifiStationState};

use crate::case::{Ctx, Step, Stop};
use crate::description::Network;
use crate::ensure;
use crate::steps::config::{
    apply_ok, apply_raw, esp_family, expect_connected, expect_connecting, expect_failure,
    fail_auth, set_ok, show, show_connected, status_raw, APPLY_INTERNAL_ERROR, STATUS_CONNECTING,
};
use crate::steps::scan;
use prov_client::messages;
use prov_client::Profile;

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

pub(super) fn apply_without_set(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn apply_connected(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn apply_auth_error(ctx: &mut Ctx<'_>) -> Step<()> {
    let net = wrong_password_network(ctx)?;
    fail_auth(
        ctx,
        &net,
        "vectors/esp-idf/wifi_auth_error_then_reset.json step 7",
    )
}

pub(super) fn apply_not_found(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn conn_attempts(ctx: &mut Ctx<'_>) -> Step<()> {
    let n = ctx.env.desc.wifi_conn_attempts;
    let net = wrong_password_network(ctx)?;
    let wrong = ctx.env.desc.wrong_password.clone();
    ctx.handshake()?;
    set_ok(ctx, net.ssid.as_bytes(), wrong.as_bytes())?;
    apply_ok(ctx)?;
    let mut deadline = ctx.deadline(Duration::from_millis(ctx.env.desc.timing.connect_ms));
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
            !ctx.expired(&deadline),
            "station still Connecting after {} ms (wifi_conn_attempts = {n})",
            ctx.env.desc.timing.connect_ms
        );
        ctx.tick(&mut deadline, Duration::from_millis(100))?;
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

pub(super) fn apply_twice(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn apply_after_failure(ctx: &mut Ctx<'_>) -> Step<()> {
    let net = wrong_password_network(ctx)?;
    fail_auth(
        ctx,
        &net,
        "vectors/esp-idf/wifi_auth_error_then_reset.json step 7",
    )?;
    set_ok(ctx, net.ssid.as_bytes(), net.password.as_bytes())?;
    apply_refused_unless_zephyr(
        ctx,
        "after a failure, without CtrlReset",
        "spec §5.1; vectors/esp-idf/wifi_auth_error_then_reset.json step 9",
    )
}

pub(super) fn set_after_success(ctx: &mut Ctx<'_>) -> Step<()> {
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

pub(super) fn bssid_zero_byte(ctx: &mut Ctx<'_>) -> Step<()> {
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
