//! `prov-session`: raw `SessionData` builders (any `sec_ver` / oneof combination) and the
//! Security 0 command and response.

use prost::Message;
use proto::protocomm::{
    sec0_payload, sec1_payload, sec2_payload, session_data, S0SessionCmd, S0SessionResp,
    Sec0MsgType, Sec0Payload, Sec1MsgType, Sec1Payload, Sec2MsgType, Sec2Payload, SessionData,
    Status,
};

use super::{check_msg, missing};
use crate::{decode, ClientError};

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
    let msg = Sec0MsgType::S0SessionResponse as i32;
    decode_scheme_response::<Sec0Payload, _>(WHAT, bytes, msg, "sr", |m| match m {
        sec0_payload::Payload::Sr(r) => Some((r.status, r)),
        sec0_payload::Payload::Sc(_) => None,
    })
}

/// The per-scheme `SessionData.proto` members (`sec0` / `sec1` / `sec2` payloads), so that the
/// session response checks (member, `sec_ver`, `msg`, oneof member, status) are written once.
pub(crate) trait SchemePayload: Sized {
    /// The payload's oneof (e.g. `sec1_payload::Payload`).
    type Member;
    /// The scheme number expected in `SessionData.sec_ver`.
    const SEC_VER: i32;
    /// This scheme's payload, if `proto` is it.
    fn take(proto: session_data::Proto) -> Option<Self>;
    /// `(msg, oneof member)`.
    fn split(self) -> (i32, Option<Self::Member>);
    /// Name of a raw `msg` value of this scheme.
    fn msg_name(v: i32) -> Option<&'static str>;
    /// Name of the oneof member, for error messages.
    fn member_name(m: Option<&Self::Member>) -> &'static str;
}

macro_rules! scheme_payload {
    ($payload:ident, $oneof:ident, $proto:ident, $ver:literal, $msg:ident, $($var:ident => $name:literal),+) => {
        impl SchemePayload for $payload {
            type Member = $oneof::Payload;
            const SEC_VER: i32 = $ver;
            fn take(proto: session_data::Proto) -> Option<Self> {
                match proto {
                    session_data::Proto::$proto(p) => Some(p),
                    _ => None,
                }
            }
            fn split(self) -> (i32, Option<Self::Member>) {
                (self.msg, self.payload)
            }
            fn msg_name(v: i32) -> Option<&'static str> {
                $msg::try_from(v).ok().map(|m| m.as_str_name())
            }
            fn member_name(m: Option<&Self::Member>) -> &'static str {
                match m {
                    None => "no payload",
                    $(Some($oneof::Payload::$var(_)) => $name,)+
                }
            }
        }
    };
}

scheme_payload!(Sec0Payload, sec0_payload, Sec0, 0, Sec0MsgType, Sc => "sc", Sr => "sr");
scheme_payload!(Sec1Payload, sec1_payload, Sec1, 1, Sec1MsgType,
    Sc0 => "sc0", Sr0 => "sr0", Sc1 => "sc1", Sr1 => "sr1");
scheme_payload!(Sec2Payload, sec2_payload, Sec2, 2, Sec2MsgType,
    Sc0 => "sc0", Sr0 => "sr0", Sc1 => "sc1", Sr1 => "sr1");

/// Decode a session response of scheme `P` and check, in order: the `proto` member, `sec_ver`,
/// `msg == expected_msg`, the oneof member (`pick` returns `(status, response)` for the expected
/// one, named `expected_member`) and status Success.
pub(crate) fn decode_scheme_response<P: SchemePayload, R>(
    what: &'static str,
    bytes: &[u8],
    expected_msg: i32,
    expected_member: &str,
    pick: impl FnOnce(P::Member) -> Option<(i32, R)>,
) -> Result<R, ClientError> {
    let sd = decode_session(bytes)?;
    let got = proto_name(sd.proto.as_ref());
    let Some(payload) = sd.proto.and_then(P::take) else {
        return Err(missing(what, &format!("sec{} payload", P::SEC_VER), got));
    };
    if sd.sec_ver != P::SEC_VER {
        let expected = format!("sec_ver {}", P::SEC_VER);
        return Err(missing(what, &expected, format!("sec_ver {}", sd.sec_ver)));
    }
    let (msg, member) = payload.split();
    check_msg(what, expected_msg, msg, P::msg_name)?;
    let name = P::member_name(member.as_ref());
    match member.and_then(pick) {
        Some((status, resp)) if status == Status::Success as i32 => Ok(resp),
        Some((status, _)) => Err(ClientError::DeviceStatus { what, status }),
        None => Err(missing(what, expected_member, name.into())),
    }
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
