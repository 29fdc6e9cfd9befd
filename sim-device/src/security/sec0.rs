//! Security 0 (spec §3.2): no session state, no encryption.
//!
//! The handshake accepts any `SessionData` whose `sec_ver` is 0 — the `proto` oneof and `msg` are not
//! checked, so even an empty body is answered — and always returns the same 7 bytes.

use prost::Message;
use proto::protocomm::{
    sec0_payload, session_data, S0SessionResp, Sec0MsgType, Sec0Payload, SessionData,
};

use crate::error::{NoResponse, Reject};

/// Answer a `prov-session` request. `check_sec_ver` is off only for the misbehaviour `ignore-sec-ver`.
pub(crate) fn handshake(request: &[u8], check_sec_ver: bool) -> Result<Vec<u8>, NoResponse> {
    let req = SessionData::decode(request).map_err(|_| Reject::Undecodable)?;
    if check_sec_ver && req.sec_ver != 0 {
        return Err(Reject::SecVerMismatch.into());
    }
    let resp = SessionData {
        sec_ver: 0,
        proto: Some(session_data::Proto::Sec0(Sec0Payload {
            msg: Sec0MsgType::S0SessionResponse as i32,
            payload: Some(sec0_payload::Payload::Sr(S0SessionResp { status: 0 })),
        })),
    };
    Ok(resp.encode_to_vec())
}
