//! Builders and decoders for the protobuf messages of spec §2, so conformance cases read cleanly.
//!
//! The request builders produce exactly the bytes esp_prov sends (checked against the golden
//! vectors): e.g. [`get_status`] is `52 00` (empty `cmd_get_status` set), while [`apply_config`],
//! [`scan_status`], [`ctrl_reset`] and [`ctrl_reprov`] carry only `msg` (esp_prov never sets their
//! empty sub-message). The `*_payload` and `session_data_*` functions build arbitrary combinations
//! (any `msg`, any oneof member, any `sec_ver`) for the type-confusion cases of spec §7.2.
//!
//! Decoders return the prost types; the `decode_resp_*` variants also check the message type and
//! that the expected oneof member is present.

use prost::Message;
use proto::protocomm::{
    sec0_payload, sec1_payload, sec2_payload, session_data, S0SessionCmd, S0SessionResp,
    Sec0MsgType, Sec0Payload, Sec1Payload, Sec2Payload, SessionData, Status,
};
use proto::wifi_prov::{
    wi_fi_config_payload, wi_fi_ctrl_payload, wi_fi_scan_payload, CmdGetStatus, CmdScanResult,
    CmdScanStart, CmdSetConfig, RespApplyConfig, RespCtrlReprov, RespCtrlReset, RespGetStatus,
    RespScanResult, RespScanStart, RespScanStatus, RespSetConfig, WiFiConfigMsgType,
    WiFiConfigPayload, WiFiCtrlMsgType, WiFiCtrlPayload, WiFiScanMsgType, WiFiScanPayload,
};

use super::{decode, ClientError};

/// A decoded scan or ctrl response: those payloads carry `status` in the outer message.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply<T> {
    /// The outer `status` (raw `Status` value; 0 = Success).
    pub status: i32,
    /// The response sub-message.
    pub body: T,
}

impl<T> Reply<T> {
    /// `status == Success`.
    pub fn is_success(&self) -> bool {
        self.status == Status::Success as i32
    }
}

fn check_msg(
    what: &'static str,
    expected: i32,
    got: i32,
    name: fn(i32) -> Option<&'static str>,
) -> Result<(), ClientError> {
    if expected == got {
        return Ok(());
    }
    let show = |v: i32| name(v).map_or_else(|| format!("msg {v}"), str::to_string);
    Err(ClientError::UnexpectedMessage {
        what,
        expected: show(expected),
        got: show(got),
    })
}

fn missing(what: &'static str, expected: &str, got: String) -> ClientError {
    ClientError::UnexpectedMessage {
        what,
        expected: expected.to_string(),
        got,
    }
}

fn status_name(v: i32) -> String {
    Status::try_from(v).map_or_else(|_| format!("status {v}"), |s| s.as_str_name().to_string())
}

// ---------------------------------------------------------------------------------------------
// prov-session: raw SessionData

/// Raw `SessionData{sec_ver, proto}` (any combination, e.g. `sec_ver = 1` with a `sec2` payload).
pub fn session_data(sec_ver: i32, proto: Option<session_data::Proto>) -> Vec<u8> {
    SessionData { sec_ver, proto }.encode_to_vec()
}

/// Raw `SessionData{sec_ver, sec0{msg, payload}}`.
pub fn session_data_sec0(
    sec_ver: i32,
    msg: i32,
    payload: Option<sec0_payload::Payload>,
) -> Vec<u8> {
    session_data(
        sec_ver,
        Some(session_data::Proto::Sec0(Sec0Payload { msg, payload })),
    )
}

/// Raw `SessionData{sec_ver, sec1{msg, payload}}`.
pub fn session_data_sec1(
    sec_ver: i32,
    msg: i32,
    payload: Option<sec1_payload::Payload>,
) -> Vec<u8> {
    session_data(
        sec_ver,
        Some(session_data::Proto::Sec1(Sec1Payload { msg, payload })),
    )
}

/// Raw `SessionData{sec_ver, sec2{msg, payload}}`.
pub fn session_data_sec2(
    sec_ver: i32,
    msg: i32,
    payload: Option<sec2_payload::Payload>,
) -> Vec<u8> {
    session_data(
        sec_ver,
        Some(session_data::Proto::Sec2(Sec2Payload { msg, payload })),
    )
}

/// The Security 0 session command as esp_prov sends it: `sec0{sc{}}`, `sec_ver` 0 (omitted) =
/// `52 03 a2 01 00`.
pub fn sec0_command() -> Vec<u8> {
    session_data_sec0(
        0,
        Sec0MsgType::S0SessionCommand as i32,
        Some(sec0_payload::Payload::Sc(S0SessionCmd {})),
    )
}

/// Decode any `SessionData`.
pub fn decode_session(bytes: &[u8]) -> Result<SessionData, ClientError> {
    decode("SessionData", bytes)
}

/// Decode and check the Security 0 session response (`sec_ver` 0, `sec0`, `msg` =
/// `S0_Session_Response`, `sr` present, status Success).
pub fn decode_sec0_response(bytes: &[u8]) -> Result<S0SessionResp, ClientError> {
    const WHAT: &str = "Security 0 session response";
    let sd = decode_session(bytes)?;
    let payload = match sd.proto {
        Some(session_data::Proto::Sec0(p)) => p,
        other => return Err(missing(WHAT, "sec0 payload", proto_name(other.as_ref()))),
    };
    if sd.sec_ver != 0 {
        return Err(missing(
            WHAT,
            "sec_ver 0",
            format!("sec_ver {}", sd.sec_ver),
        ));
    }
    check_msg(
        WHAT,
        Sec0MsgType::S0SessionResponse as i32,
        payload.msg,
        |v| Sec0MsgType::try_from(v).ok().map(|m| m.as_str_name()),
    )?;
    let resp = match payload.payload {
        Some(sec0_payload::Payload::Sr(r)) => r,
        Some(sec0_payload::Payload::Sc(_)) => return Err(missing(WHAT, "sr", "sc".into())),
        None => return Err(missing(WHAT, "sr", "no payload".into())),
    };
    if resp.status != Status::Success as i32 {
        return Err(ClientError::DeviceStatus {
            what: WHAT,
            status: resp.status,
        });
    }
    Ok(resp)
}

/// Name of a `SessionData.proto` member, for error messages.
pub(crate) fn proto_name(p: Option<&session_data::Proto>) -> String {
    match p {
        None => "no payload".into(),
        Some(session_data::Proto::Sec0(_)) => "sec0 payload".into(),
        Some(session_data::Proto::Sec1(_)) => "sec1 payload".into(),
        Some(session_data::Proto::Sec2(_)) => "sec2 payload".into(),
    }
}

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

/// Human-readable name of a raw `Status` value (e.g. `InternalError`, or `status 42`).
pub fn describe_status(status: i32) -> String {
    status_name(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::test_vectors::h;
    use proto::wifi_prov::resp_get_status;

    #[test]
    fn requests_match_esp_prov_bytes() {
        // Plaintexts recorded in vectors/esp-idf/*.json.
        assert_eq!(get_status(), h("5200"));
        assert_eq!(apply_config(), h("0804"));
        assert_eq!(
            set_config(b"OracleNet-Home", b"correct horse battery", b"", 0),
            h("080262270a0e4f7261636c654e65742d486f6d651215636f727265637420686f7273652062617474657279")
        );
        assert_eq!(scan_start(true, false, 5, 120), h("5206080118052078"));
        assert_eq!(scan_start(true, false, 0, 120), h("520408012078"));
        assert_eq!(scan_status(), h("0802"));
        assert_eq!(scan_result(0, 4), h("080472021004"));
        assert_eq!(scan_result(4, 4), h("0804720408041004"));
        assert_eq!(ctrl_reset(), h("0801"));
        assert_eq!(ctrl_reprov(), h("0803"));
        assert_eq!(sec0_command(), h("5203a20100"));
        // Spec §3.3 KAT SetConfig.
        assert_eq!(
            set_config(b"myssid", b"mypassword", b"", 0),
            h("080262140a066d7973736964120a6d7970617373776f7264")
        );
    }

    #[test]
    fn oneof_confusion_builders() {
        // sec_ver 0 carrying a sec1 Command0 (bad_inputs_sec0 step 3).
        let bytes = session_data_sec1(
            0,
            0,
            Some(sec1_payload::Payload::Sc0(proto::protocomm::SessionCmd0 {
                client_pubkey: vec![1; 32],
            })),
        );
        assert_eq!(
            bytes,
            h("5a25a201220a200101010101010101010101010101010101010101010101010101010101010101")
        );
        // sec_ver 1 with a sec0 command (bad_inputs_sec0 step 4).
        assert_eq!(
            session_data_sec0(1, 0, Some(sec0_payload::Payload::Sc(S0SessionCmd {}))),
            h("10015203a20100")
        );
        assert_eq!(session_data(0, None), Vec::<u8>::new());
    }

    #[test]
    fn decoders() {
        let r = decode_sec0_response(&h("52050801aa0100")).unwrap();
        assert_eq!(r.status, 0);
        assert!(decode_sec0_response(&h("12")).is_err());

        let st = decode_resp_get_status(&h("08015a021001")).unwrap();
        assert_eq!(st.sta_state, 1);
        assert_eq!(st.state, None);
        let st = decode_resp_get_status(&h(
            "08015a2a5a280a0a3139322e302e322e323310031a0e4f7261636c654e65742d486f6d652206025e10a1b1c12806",
        ))
        .unwrap();
        match st.state {
            Some(resp_get_status::State::Connected(c)) => {
                assert_eq!(c.ip4_addr, "192.0.2.23");
                assert_eq!(c.ssid, b"OracleNet-Home");
                assert_eq!(c.channel, 6);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(decode_resp_set_config(&h("08036a00")).unwrap().status, 0);
        assert_eq!(decode_resp_apply_config(&h("08057a00")).unwrap().status, 0);
        assert!(matches!(
            decode_resp_apply_config(&h("08036a00")),
            Err(ClientError::UnexpectedMessage { .. })
        ));
        assert!(matches!(
            decode_resp_get_status(&h("0801")),
            Err(ClientError::UnexpectedMessage { .. })
        ));

        assert!(decode_resp_scan_start(&h("08015a00")).unwrap().is_success());
        let s = decode_resp_scan_status(&h("08036a0408011008")).unwrap();
        assert!(s.body.scan_finished);
        assert_eq!(s.body.result_count, 8);

        // A recorded ScanResult (sec1_full_flow step 6): four entries, RSSI as sign-extended varint.
        let v = crate::client::test_vectors::parse(crate::client::test_vectors::SEC1_FULL_FLOW);
        let step = &v["transcript"][5];
        assert_eq!(step["step"], 6);
        let pt = h(step["response_plaintext_hex"].as_str().unwrap());
        let r = decode_resp_scan_result(&pt).unwrap();
        assert!(r.is_success());
        assert_eq!(r.body.entries.len(), 4);
        assert_eq!(r.body.entries[0].ssid, b"OracleNet-Home");
        assert_eq!(r.body.entries[0].rssi, -41);
        assert_eq!(r.body.entries[0].bssid, h("025e10a1b1c1"));

        let reset = decode_resp_ctrl_reset(&h("080210056200")).unwrap();
        assert_eq!(reset.status, Status::InternalError as i32);
        assert!(!reset.is_success());
        assert!(decode_resp_ctrl_reprov(&h("08047200"))
            .unwrap()
            .is_success());
        assert_eq!(describe_status(5), "InternalError");
        assert_eq!(describe_status(42), "status 42");
        assert!(matches!(
            decode_config(&h("0a05")),
            Err(ClientError::Decode { .. })
        ));
    }
}
