//! `prov-session`: raw `SessionData` builders (any `sec_ver` / oneof combination) and the
//! Security 0 command and response.

use prost::Message;
use proto::protocomm::{
    sec0_payload, sec1_payload, sec2_payload, session_data, S0SessionCmd, S0SessionResp,
    Sec0MsgType, Sec0Payload, Sec1Payload, Sec2Payload, SessionData, Status,
};

use super::{check_msg, missing};
use crate::client::{decode, ClientError};

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
