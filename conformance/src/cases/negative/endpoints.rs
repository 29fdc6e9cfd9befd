//! Data-endpoint cases: `prov-config` / `prov-scan` requests with a response or unassigned `msg`, or an
//! undecodable payload, get no response and the session goes on in step (spec §5, §7.1).

use crate::case::{short_hex, Ctx, Step, Stop};
use crate::steps::session::{exchange, status_ok};

/// Sends each plaintext (encrypted in the session) to `endpoint` and requires no response, then a
/// GetStatus on the same cipher: the device must have consumed exactly what the client did (Sec1:
/// the request's length of keystream; Sec2: one counter step per decrypted request).
fn refuse_all_then_status(
    ctx: &mut Ctx<'_>,
    endpoint: &str,
    probes: &[(Vec<u8>, String)],
    cite: &str,
) -> Step<()> {
    let mut cipher = ctx.establish()?;
    for (plain, what) in probes {
        if let Some(p) = exchange(ctx, &mut cipher, endpoint, plain, what)? {
            return Err(Stop::Fail(format!(
                "{what}: answered {}, expected no response ({cite})",
                short_hex(&p)
            )));
        }
    }
    status_ok(
        ctx,
        &mut cipher,
        "GetStatus after the rejected requests",
        "a request that decrypts but fails in the handler still consumes keystream (Sec1) / one counter step \
         (Sec2), exactly as the client did (spec §3.3, §3.4.4, §7.1)",
    )
}

pub(super) fn config_unknown_msg(ctx: &mut Ctx<'_>) -> Step<()> {
    let probes: Vec<(Vec<u8>, String)> = [
        (
            1u8,
            "TypeRespGetStatus, a response type (vectors/esp-idf/bad_inputs_sec0.json step 6)",
        ),
        (3, "TypeRespSetConfig, a response type"),
        (5, "TypeRespApplyConfig, a response type"),
        (
            9,
            "unassigned in wifi_provisioning (vectors/esp-idf/bad_inputs_sec1.json step 25)",
        ),
        (12, "unassigned"),
        (100, "unassigned"),
    ]
    .iter()
    .map(|(m, what)| {
        (
            vec![0x08, *m],
            format!("WiFiConfigPayload msg {m} ({what})"),
        )
    })
    .collect();
    refuse_all_then_status(
        ctx,
        "prov-config",
        &probes,
        "unknown command type → ESP_FAIL (spec §5 dispatch rule 2, §7.1)",
    )
}

pub(super) fn scan_unknown_msg(ctx: &mut Ctx<'_>) -> Step<()> {
    let probes: Vec<(Vec<u8>, String)> = [
        (1u8, "TypeRespScanStart, a response type"),
        (3, "TypeRespScanStatus, a response type"),
        (5, "TypeRespScanResult, a response type"),
        (12, "unassigned"),
        (100, "unassigned"),
    ]
    .iter()
    .map(|(m, what)| (vec![0x08, *m], format!("WiFiScanPayload msg {m} ({what})")))
    .collect();
    refuse_all_then_status(
        ctx,
        "prov-scan",
        &probes,
        "unknown command type → ESP_FAIL (spec §5 dispatch rule 2, §7.1)",
    )
}

pub(super) fn config_undecodable(ctx: &mut Ctx<'_>) -> Step<()> {
    let probes: Vec<(Vec<u8>, String)> = vec![
        (
            vec![0x0a],
            "0a: field 1 with the wrong wire type and no length (vectors/esp-idf/bad_inputs_sec0.json step 7)".into(),
        ),
        (vec![0xff, 0xff], "ff ff: truncated varint".into()),
        (
            vec![0x52, 0x05, 0x00],
            "52 05 00: cmd_get_status whose length runs past the end".into(),
        ),
    ];
    refuse_all_then_status(
        ctx,
        "prov-config",
        &probes,
        "undecodable handler payload → ESP_ERR_INVALID_ARG (spec §5 dispatch rule 1, §7.1)",
    )
}
