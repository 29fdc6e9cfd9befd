//! `prov-ctrl`: CtrlReset and CtrlReprov (spec §5.3). The empty response sub-message is always present.

use prost::Message;
use proto::network_prov as np;
use proto::protocomm::Status;
use proto::wifi_prov::{
    wi_fi_ctrl_payload::Payload, RespCtrlReprov, RespCtrlReset, WiFiCtrlPayload,
};

use super::Reply;
use crate::config::Profile;
use crate::error::{NoResponse, Reject};
use crate::manager::Manager;

/// `prov-ctrl`: decode, run the command, encode the answer.
pub(crate) fn prov_ctrl(mgr: &mut Manager, req: &[u8]) -> Result<Reply, NoResponse> {
    let req = WiFiCtrlPayload::decode(req).map_err(|_| Reject::Undecodable)?;
    let (ok, payload) = match req.msg {
        1 => (
            mgr.ctrl_reset().is_ok(),
            Payload::RespCtrlReset(RespCtrlReset {}),
        ),
        3 => (
            mgr.ctrl_reprov().is_ok(),
            Payload::RespCtrlReprov(RespCtrlReprov {}),
        ),
        5 | 7 if mgr.profile() == Profile::NetworkProv12 => {
            use np::network_ctrl_payload::Payload as P;
            let payload = if req.msg == 5 {
                P::RespCtrlThreadReset(np::RespCtrlThreadReset {})
            } else {
                P::RespCtrlThreadReprov(np::RespCtrlThreadReprov {})
            };
            let resp = np::NetworkCtrlPayload {
                msg: req.msg + 1,
                status: Status::InvalidArgument as i32,
                payload: Some(payload),
            };
            return Ok(Reply::Ready(resp.encode_to_vec()));
        }
        _ => return Err(Reject::UnknownCommand.into()),
    };
    let status = if ok { 0 } else { Status::InternalError as i32 };
    Ok(Reply::Ready(
        WiFiCtrlPayload {
            msg: req.msg + 1,
            status,
            payload: Some(payload),
        }
        .encode_to_vec(),
    ))
}
