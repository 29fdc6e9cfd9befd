//! `prov-config`, `prov-scan` and `prov-ctrl`: request builders (esp_prov's exact bytes and raw
//! payloads) and the checked `decode_resp_*` decoders.

use prost::Message;
use proto::wifi_prov::{
    wi_fi_config_payload, wi_fi_ctrl_payload, wi_fi_scan_payload, CmdGetStatus, CmdScanResult,
    CmdScanStart, CmdSetConfig, RespApplyConfig, RespCtrlReprov, RespCtrlReset, RespGetStatus,
    RespScanResult, RespScanStart, RespScanStatus, RespSetConfig, WiFiConfigMsgType,
    WiFiConfigPayload, WiFiCtrlMsgType, WiFiCtrlPayload, WiFiScanMsgType, WiFiScanPayload,
};

use super::{check_msg, missing, Reply};
use crate::{decode, ClientError};

// ---------------------------------------------------------------------------------------------
// prov-config

/// Raw `WiFiConfigPayload{msg, payload}`.
pub fn config_payload(msg: i32, payload: Option<wi_fi_config_payload::Payload>) -> Vec<u8> {
    WiFiConfigPayload { msg, payload }.encode_to_vec()
}

/// `CmdGetStatus` (`52 00`).
pub fn get_status() -> Vec<u8> {
    config_payload(
        WiFiConfigMsgType::TypeCmdGetStatus as i32,
        Some(wi_fi_config_payload::Payload::CmdGetStatus(CmdGetStatus {})),
    )
}

/// `CmdSetConfig{ssid, passphrase, bssid, channel}` (empty / zero fields are omitted on the wire).
/// `channel` is `int32` in the .proto, so negative values can be sent too.
pub fn set_config(ssid: &[u8], passphrase: &[u8], bssid: &[u8], channel: i32) -> Vec<u8> {
    config_payload(
        WiFiConfigMsgType::TypeCmdSetConfig as i32,
        Some(wi_fi_config_payload::Payload::CmdSetConfig(CmdSetConfig {
            ssid: ssid.to_vec(),
            passphrase: passphrase.to_vec(),
            bssid: bssid.to_vec(),
            channel,
        })),
    )
}

/// `CmdApplyConfig` as esp_prov sends it: `msg` only (`08 04`).
pub fn apply_config() -> Vec<u8> {
    config_payload(WiFiConfigMsgType::TypeCmdApplyConfig as i32, None)
}

/// Decode any `WiFiConfigPayload`.
pub fn decode_config(bytes: &[u8]) -> Result<WiFiConfigPayload, ClientError> {
    decode("WiFiConfigPayload", bytes)
}

fn config_msg_name(v: i32) -> Option<&'static str> {
    WiFiConfigMsgType::try_from(v).ok().map(|m| m.as_str_name())
}

fn config_reply(
    bytes: &[u8],
    what: &'static str,
    expected: WiFiConfigMsgType,
) -> Result<Option<wi_fi_config_payload::Payload>, ClientError> {
    let p = decode_config(bytes)?;
    check_msg(what, expected as i32, p.msg, config_msg_name)?;
    Ok(p.payload)
}

/// Decode a GetStatus answer: `msg = TypeRespGetStatus` with `resp_get_status` present.
pub fn decode_resp_get_status(bytes: &[u8]) -> Result<RespGetStatus, ClientError> {
    const WHAT: &str = "RespGetStatus";
    match config_reply(bytes, WHAT, WiFiConfigMsgType::TypeRespGetStatus)? {
        Some(wi_fi_config_payload::Payload::RespGetStatus(r)) => Ok(r),
        other => Err(missing(
            WHAT,
            "resp_get_status",
            config_member(other.as_ref()),
        )),
    }
}

/// Decode a SetConfig answer: `msg = TypeRespSetConfig` with `resp_set_config` present (the
/// status inside is not judged).
pub fn decode_resp_set_config(bytes: &[u8]) -> Result<RespSetConfig, ClientError> {
    const WHAT: &str = "RespSetConfig";
    match config_reply(bytes, WHAT, WiFiConfigMsgType::TypeRespSetConfig)? {
        Some(wi_fi_config_payload::Payload::RespSetConfig(r)) => Ok(r),
        other => Err(missing(
            WHAT,
            "resp_set_config",
            config_member(other.as_ref()),
        )),
    }
}

/// Decode an ApplyConfig answer: `msg = TypeRespApplyConfig` with `resp_apply_config` present.
pub fn decode_resp_apply_config(bytes: &[u8]) -> Result<RespApplyConfig, ClientError> {
    const WHAT: &str = "RespApplyConfig";
    match config_reply(bytes, WHAT, WiFiConfigMsgType::TypeRespApplyConfig)? {
        Some(wi_fi_config_payload::Payload::RespApplyConfig(r)) => Ok(r),
        other => Err(missing(
            WHAT,
            "resp_apply_config",
            config_member(other.as_ref()),
        )),
    }
}

fn config_member(p: Option<&wi_fi_config_payload::Payload>) -> String {
    use wi_fi_config_payload::Payload as P;
    match p {
        None => "no payload",
        Some(P::CmdGetStatus(_)) => "cmd_get_status",
        Some(P::RespGetStatus(_)) => "resp_get_status",
        Some(P::CmdSetConfig(_)) => "cmd_set_config",
        Some(P::RespSetConfig(_)) => "resp_set_config",
        Some(P::CmdApplyConfig(_)) => "cmd_apply_config",
        Some(P::RespApplyConfig(_)) => "resp_apply_config",
    }
    .to_string()
}

// ---------------------------------------------------------------------------------------------
// prov-scan

/// Raw `WiFiScanPayload{msg, status, payload}`.
pub fn scan_payload(
    msg: i32,
    status: i32,
    payload: Option<wi_fi_scan_payload::Payload>,
) -> Vec<u8> {
    WiFiScanPayload {
        msg,
        status,
        payload,
    }
    .encode_to_vec()
}

/// `CmdScanStart{blocking, passive, group_channels, period_ms}`.
pub fn scan_start(blocking: bool, passive: bool, group_channels: u32, period_ms: u32) -> Vec<u8> {
    scan_payload(
        WiFiScanMsgType::TypeCmdScanStart as i32,
        0,
        Some(wi_fi_scan_payload::Payload::CmdScanStart(CmdScanStart {
            blocking,
            passive,
            group_channels,
            period_ms,
        })),
    )
}

/// `CmdScanStatus` as esp_prov sends it: `msg` only (`08 02`).
pub fn scan_status() -> Vec<u8> {
    scan_payload(WiFiScanMsgType::TypeCmdScanStatus as i32, 0, None)
}

/// `CmdScanResult{start_index, count}`.
pub fn scan_result(start_index: u32, count: u32) -> Vec<u8> {
    scan_payload(
        WiFiScanMsgType::TypeCmdScanResult as i32,
        0,
        Some(wi_fi_scan_payload::Payload::CmdScanResult(CmdScanResult {
            start_index,
            count,
        })),
    )
}

/// Decode any `WiFiScanPayload`.
pub fn decode_scan(bytes: &[u8]) -> Result<WiFiScanPayload, ClientError> {
    decode("WiFiScanPayload", bytes)
}

fn scan_reply(
    bytes: &[u8],
    what: &'static str,
    expected: WiFiScanMsgType,
) -> Result<(i32, Option<wi_fi_scan_payload::Payload>), ClientError> {
    let p = decode_scan(bytes)?;
    check_msg(what, expected as i32, p.msg, |v| {
        WiFiScanMsgType::try_from(v).ok().map(|m| m.as_str_name())
    })?;
    Ok((p.status, p.payload))
}

fn scan_member(p: Option<&wi_fi_scan_payload::Payload>) -> String {
    use wi_fi_scan_payload::Payload as P;
    match p {
        None => "no payload",
        Some(P::CmdScanStart(_)) => "cmd_scan_start",
        Some(P::RespScanStart(_)) => "resp_scan_start",
        Some(P::CmdScanStatus(_)) => "cmd_scan_status",
        Some(P::RespScanStatus(_)) => "resp_scan_status",
        Some(P::CmdScanResult(_)) => "cmd_scan_result",
        Some(P::RespScanResult(_)) => "resp_scan_result",
    }
    .to_string()
}

/// Decode a ScanStart answer (`msg = TypeRespScanStart`, `resp_scan_start` present).
pub fn decode_resp_scan_start(bytes: &[u8]) -> Result<Reply<RespScanStart>, ClientError> {
    const WHAT: &str = "RespScanStart";
    match scan_reply(bytes, WHAT, WiFiScanMsgType::TypeRespScanStart)? {
        (status, Some(wi_fi_scan_payload::Payload::RespScanStart(body))) => {
            Ok(Reply { status, body })
        }
        (_, other) => Err(missing(
            WHAT,
            "resp_scan_start",
            scan_member(other.as_ref()),
        )),
    }
}

/// Decode a ScanStatus answer (`msg = TypeRespScanStatus`, `resp_scan_status` present).
pub fn decode_resp_scan_status(bytes: &[u8]) -> Result<Reply<RespScanStatus>, ClientError> {
    const WHAT: &str = "RespScanStatus";
    match scan_reply(bytes, WHAT, WiFiScanMsgType::TypeRespScanStatus)? {
        (status, Some(wi_fi_scan_payload::Payload::RespScanStatus(body))) => {
            Ok(Reply { status, body })
        }
        (_, other) => Err(missing(
            WHAT,
            "resp_scan_status",
            scan_member(other.as_ref()),
        )),
    }
}

/// Decode a ScanResult answer (`msg = TypeRespScanResult`, `resp_scan_result` present; an
/// `InternalError` status with the entries that exist is returned as is).
pub fn decode_resp_scan_result(bytes: &[u8]) -> Result<Reply<RespScanResult>, ClientError> {
    const WHAT: &str = "RespScanResult";
    match scan_reply(bytes, WHAT, WiFiScanMsgType::TypeRespScanResult)? {
        (status, Some(wi_fi_scan_payload::Payload::RespScanResult(body))) => {
            Ok(Reply { status, body })
        }
        (_, other) => Err(missing(
            WHAT,
            "resp_scan_result",
            scan_member(other.as_ref()),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// prov-ctrl

/// Raw `WiFiCtrlPayload{msg, status, payload}`.
pub fn ctrl_payload(
    msg: i32,
    status: i32,
    payload: Option<wi_fi_ctrl_payload::Payload>,
) -> Vec<u8> {
    WiFiCtrlPayload {
        msg,
        status,
        payload,
    }
    .encode_to_vec()
}

/// `CmdCtrlReset` as esp_prov sends it: `msg` only (`08 01`).
pub fn ctrl_reset() -> Vec<u8> {
    ctrl_payload(WiFiCtrlMsgType::TypeCmdCtrlReset as i32, 0, None)
}

/// `CmdCtrlReprov` as esp_prov sends it: `msg` only (`08 03`).
pub fn ctrl_reprov() -> Vec<u8> {
    ctrl_payload(WiFiCtrlMsgType::TypeCmdCtrlReprov as i32, 0, None)
}

/// Decode any `WiFiCtrlPayload`.
pub fn decode_ctrl(bytes: &[u8]) -> Result<WiFiCtrlPayload, ClientError> {
    decode("WiFiCtrlPayload", bytes)
}

fn ctrl_reply(
    bytes: &[u8],
    what: &'static str,
    expected: WiFiCtrlMsgType,
) -> Result<(i32, Option<wi_fi_ctrl_payload::Payload>), ClientError> {
    let p = decode_ctrl(bytes)?;
    check_msg(what, expected as i32, p.msg, |v| {
        WiFiCtrlMsgType::try_from(v).ok().map(|m| m.as_str_name())
    })?;
    Ok((p.status, p.payload))
}

fn ctrl_member(p: Option<&wi_fi_ctrl_payload::Payload>) -> String {
    use wi_fi_ctrl_payload::Payload as P;
    match p {
        None => "no payload",
        Some(P::CmdCtrlReset(_)) => "cmd_ctrl_reset",
        Some(P::RespCtrlReset(_)) => "resp_ctrl_reset",
        Some(P::CmdCtrlReprov(_)) => "cmd_ctrl_reprov",
        Some(P::RespCtrlReprov(_)) => "resp_ctrl_reprov",
    }
    .to_string()
}

/// Decode a CtrlReset answer (`msg = TypeRespCtrlReset`, `resp_ctrl_reset` present).
pub fn decode_resp_ctrl_reset(bytes: &[u8]) -> Result<Reply<RespCtrlReset>, ClientError> {
    const WHAT: &str = "RespCtrlReset";
    match ctrl_reply(bytes, WHAT, WiFiCtrlMsgType::TypeRespCtrlReset)? {
        (status, Some(wi_fi_ctrl_payload::Payload::RespCtrlReset(body))) => {
            Ok(Reply { status, body })
        }
        (_, other) => Err(missing(
            WHAT,
            "resp_ctrl_reset",
            ctrl_member(other.as_ref()),
        )),
    }
}

/// Decode a CtrlReprov answer (`msg = TypeRespCtrlReprov`, `resp_ctrl_reprov` present).
pub fn decode_resp_ctrl_reprov(bytes: &[u8]) -> Result<Reply<RespCtrlReprov>, ClientError> {
    const WHAT: &str = "RespCtrlReprov";
    match ctrl_reply(bytes, WHAT, WiFiCtrlMsgType::TypeRespCtrlReprov)? {
        (status, Some(wi_fi_ctrl_payload::Payload::RespCtrlReprov(body))) => {
            Ok(Reply { status, body })
        }
        (_, other) => Err(missing(
            WHAT,
            "resp_ctrl_reprov",
            ctrl_member(other.as_ref()),
        )),
    }
}
