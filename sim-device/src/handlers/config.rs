//! `prov-config`: GetStatus, SetConfig, ApplyConfig (spec §5.1).

use std::time::Instant;

use prost::Message;
use proto::network_prov as np;
use proto::protocomm::Status;
use proto::wifi_prov::{
    resp_get_status, wi_fi_config_payload::Payload, RespApplyConfig, RespGetStatus, RespSetConfig,
    WiFiConfigPayload, WifiAttemptFailed, WifiConnectedState,
};

use super::Reply;
use crate::config::{Credentials, Profile};
use crate::error::{NoResponse, Reject};
use crate::manager::{Manager, StatusView};
use crate::misbehave::Misbehaviour;
use crate::wifi::ConnectFailure;

/// `prov-config`: decode, run the command, encode the answer.
pub(crate) fn prov_config(
    mgr: &mut Manager,
    req: &[u8],
    now: Instant,
) -> Result<Reply, NoResponse> {
    let req = WiFiConfigPayload::decode(req).map_err(|_| Reject::Undecodable)?;
    let payload = match req.msg {
        0 => Payload::RespGetStatus(get_status(mgr, now)),
        2 => {
            let missing = req.payload.is_none();
            let Some(Payload::CmdSetConfig(cmd)) = req.payload else {
                return Err(super::bad_payload(mgr, missing));
            };
            Payload::RespSetConfig(RespSetConfig {
                status: set_config(mgr, cmd),
            })
        }
        4 => {
            let status = if mgr.apply(now).is_ok() {
                0
            } else {
                Status::InternalError as i32
            };
            Payload::RespApplyConfig(RespApplyConfig { status })
        }
        6 | 8 | 10 if mgr.profile() == Profile::NetworkProv12 => {
            return Ok(Reply::Ready(thread_on_wifi_build(req.msg)));
        }
        _ => return Err(Reject::UnknownCommand.into()),
    };
    Ok(Reply::Ready(
        WiFiConfigPayload {
            msg: req.msg + 1,
            payload: Some(payload),
        }
        .encode_to_vec(),
    ))
}

fn get_status(mgr: &mut Manager, now: Instant) -> RespGetStatus {
    let swap = mgr.misbehaves(Misbehaviour::WrongFailureReason);
    let (sta_state, state) = match mgr.get_status(now) {
        StatusView::Connecting => (1, None),
        StatusView::AttemptFailed { remaining } => (
            1,
            Some(resp_get_status::State::AttemptFailed(WifiAttemptFailed {
                attempts_remaining: remaining,
            })),
        ),
        StatusView::Failed(f) => {
            let reason = match (f, swap) {
                (ConnectFailure::AuthError, false) | (ConnectFailure::NetworkNotFound, true) => 0,
                (ConnectFailure::NetworkNotFound, false) | (ConnectFailure::AuthError, true) => 1,
            };
            (3, Some(resp_get_status::State::FailReason(reason)))
        }
        StatusView::Connected { ip, ap } => (
            0,
            Some(resp_get_status::State::Connected(WifiConnectedState {
                ip4_addr: ip.to_string(),
                auth_mode: ap.auth as i32,
                ssid: until_nul(&ap.ssid).to_vec(),
                bssid: ap.bssid.to_vec(),
                channel: i32::from(ap.channel),
            })),
        ),
    };
    RespGetStatus {
        status: 0,
        sta_state,
        state,
    }
}

/// Validation answers InvalidArgument, never a transport error (spec §5.1).
fn set_config(mgr: &mut Manager, cmd: proto::wifi_prov::CmdSetConfig) -> i32 {
    let lengths_ok = (cmd.ssid.len() <= 32 && cmd.passphrase.len() <= 63)
        || mgr.misbehaves(Misbehaviour::NoSsidLengthCheck);
    if !(cmd.bssid.is_empty() || cmd.bssid.len() == 6) || !lengths_ok {
        return Status::InvalidArgument as i32;
    }
    mgr.set_pending(Credentials {
        ssid: until_nul(&cmd.ssid).to_vec(),
        passphrase: until_nul(&cmd.passphrase).to_vec(),
    });
    0
}

/// The SSID is a C string on the device: a NUL byte ends it.
fn until_nul(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |i| &b[..i])
}

/// network_provisioning Wi-Fi build: Thread commands get a normal answer with InvalidArgument (spec §5.4).
fn thread_on_wifi_build(msg: i32) -> Vec<u8> {
    use np::network_config_payload::Payload as P;
    let status = Status::InvalidArgument as i32;
    let payload = match msg {
        6 => P::RespGetThreadStatus(np::RespGetThreadStatus {
            status,
            thread_state: 0,
            state: None,
        }),
        8 => P::RespSetThreadConfig(np::RespSetThreadConfig { status }),
        _ => P::RespApplyThreadConfig(np::RespApplyThreadConfig { status }),
    };
    np::NetworkConfigPayload {
        msg: msg + 1,
        payload: Some(payload),
    }
    .encode_to_vec()
}
