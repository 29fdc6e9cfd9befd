//! `prov-scan`: ScanStart, ScanStatus, ScanResult (spec §5.2). `status` lives in the outer payload.

use std::time::Instant;

use prost::Message;
use proto::network_prov as np;
use proto::protocomm::Status;
use proto::wifi_prov::{
    wi_fi_scan_payload::Payload, RespScanResult, RespScanStart, RespScanStatus, WiFiScanPayload,
    WiFiScanResult,
};

use super::Reply;
use crate::config::Profile;
use crate::error::{NoResponse, Reject};
use crate::manager::Manager;
use crate::misbehave::Misbehaviour;

/// `prov-scan`: decode, run the command, encode the answer (a blocking ScanStart defers it).
pub(crate) fn prov_scan(mgr: &mut Manager, req: &[u8], now: Instant) -> Result<Reply, NoResponse> {
    let req = WiFiScanPayload::decode(req).map_err(|_| Reject::Undecodable)?;
    match req.msg {
        0 => {
            let missing = req.payload.is_none();
            let Some(Payload::CmdScanStart(cmd)) = req.payload else {
                return Err(super::bad_payload(mgr, missing));
            };
            if mgr.scan_start(now, cmd.blocking, cmd.group_channels) {
                return Ok(Reply::Deferred);
            }
            Ok(Reply::Ready(scan_start_response()))
        }
        2 => {
            let (scan_finished, result_count) = mgr.scan_status();
            let payload = Payload::RespScanStatus(RespScanStatus {
                scan_finished,
                result_count,
            });
            Ok(Reply::Ready(encode(3, 0, payload)))
        }
        4 => {
            let missing = req.payload.is_none();
            let Some(Payload::CmdScanResult(cmd)) = req.payload else {
                return Err(super::bad_payload(mgr, missing));
            };
            let max = mgr.scan_max();
            if cmd.start_index >= max || cmd.count > max - cmd.start_index {
                return Err(Reject::ScanIndexOutOfRange.into());
            }
            // Misbehaviour `scan-overrun`: past the end, the last entry is read again (unchecked index).
            let overrun = mgr.misbehaves(Misbehaviour::ScanOverrun);
            let results = mgr.scan_results();
            let mut status = 0;
            let mut entries = Vec::new();
            for i in cmd.start_index..cmd.start_index + cmd.count {
                let fill = || results.last().filter(|_| overrun);
                let Some(ap) = results.get(i as usize).or_else(fill) else {
                    status = Status::InternalError as i32;
                    break;
                };
                let ssid_len = ap
                    .ssid
                    .iter()
                    .position(|&c| c == 0)
                    .unwrap_or(ap.ssid.len())
                    .min(32);
                entries.push(WiFiScanResult {
                    ssid: ap.ssid[..ssid_len].to_vec(),
                    channel: u32::from(ap.channel),
                    rssi: i32::from(ap.rssi),
                    bssid: ap.bssid.to_vec(),
                    auth: ap.auth as i32,
                });
            }
            Ok(Reply::Ready(encode(
                5,
                status,
                Payload::RespScanResult(RespScanResult { entries }),
            )))
        }
        6 | 8 if mgr.profile() == Profile::NetworkProv12 => {
            use np::network_scan_payload::Payload as P;
            let payload = if req.msg == 6 {
                P::RespScanThreadStart(np::RespScanThreadStart {})
            } else {
                P::RespScanThreadStatus(np::RespScanThreadStatus::default())
            };
            let msg = req.msg + 1;
            let resp = np::NetworkScanPayload {
                msg,
                status: Status::InvalidArgument as i32,
                payload: Some(payload),
            };
            Ok(Reply::Ready(resp.encode_to_vec()))
        }
        _ => Err(Reject::UnknownCommand.into()),
    }
}

/// The ScanStart answer.
fn scan_start_response() -> Vec<u8> {
    encode(1, 0, Payload::RespScanStart(RespScanStart {}))
}

/// The answer of a deferred blocking ScanStart, once its scan is over (the handler's `vTaskDelay` loop
/// saw `scan_finished`).
pub(crate) fn blocking_scan_answer(mgr: &mut Manager) -> Option<Vec<u8>> {
    mgr.take_blocking_scan_done().then(scan_start_response)
}

fn encode(msg: i32, status: i32, payload: Payload) -> Vec<u8> {
    WiFiScanPayload {
        msg,
        status,
        payload: Some(payload),
    }
    .encode_to_vec()
}
