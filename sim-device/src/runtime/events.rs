//! Device events as structured log lines and as JSON history records (control channel `GET /events`).
//!
//! One mapping for both so the log and the history never disagree. No secret reaches either: credentials
//! events carry the SSID only, and nothing here sees a PoP, password, key or plaintext payload.

use std::time::Duration;

use serde_json::{json, Value};

use crate::event::{DeviceEvent, ProvEvent, WifiEvent};
use crate::security::SecurityEvent;
use crate::wifi::ConnectFailure;

/// One entry of the event history.
#[derive(Clone, Debug)]
pub struct EventRecord {
    /// Sequence number, from 1, never reused within a run (survives reboots).
    pub seq: u64,
    /// Time since the simulator started.
    pub at: Duration,
    /// Boot count: 0 for the first boot, +1 per reboot.
    pub boot: u64,
    /// The event, as `{"kind": ..., "event": ..., ...}`.
    pub body: Value,
}

impl EventRecord {
    /// The record as JSON.
    pub fn to_json(&self) -> Value {
        let mut v =
            json!({ "seq": self.seq, "t_ms": self.at.as_millis() as u64, "boot": self.boot });
        if let (Some(obj), Some(body)) = (v.as_object_mut(), self.body.as_object()) {
            obj.extend(body.clone());
        }
        v
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn failure(f: ConnectFailure) -> &'static str {
    match f {
        ConnectFailure::AuthError => "auth_error",
        ConnectFailure::NetworkNotFound => "network_not_found",
    }
}

/// `{"kind","event",...}` for an event, with names from ESP-IDF's event enums.
pub fn describe(e: &DeviceEvent) -> Value {
    match e {
        DeviceEvent::Prov(p) => match p {
            ProvEvent::Start => json!({"kind": "prov", "event": "WIFI_PROV_START"}),
            ProvEvent::SetStaConfig => json!({"kind": "prov", "event": "WIFI_PROV_SET_STA_CONFIG"}),
            ProvEvent::CredRecv { ssid } => {
                json!({"kind": "prov", "event": "WIFI_PROV_CRED_RECV", "ssid": text(ssid)})
            }
            ProvEvent::CredFail(f) => {
                json!({"kind": "prov", "event": "WIFI_PROV_CRED_FAIL", "reason": failure(*f)})
            }
            ProvEvent::CredSuccess => json!({"kind": "prov", "event": "WIFI_PROV_CRED_SUCCESS"}),
            ProvEvent::End => json!({"kind": "prov", "event": "WIFI_PROV_END"}),
        },
        DeviceEvent::Security(s) => {
            let name = match s {
                SecurityEvent::SetupOk => "PROTOCOMM_SECURITY_SESSION_SETUP_OK",
                SecurityEvent::InvalidSecurityParams => {
                    "PROTOCOMM_SECURITY_SESSION_INVALID_SECURITY_PARAMS"
                }
                SecurityEvent::CredentialsMismatch => {
                    "PROTOCOMM_SECURITY_SESSION_CREDENTIALS_MISMATCH"
                }
            };
            json!({"kind": "security", "event": name})
        }
        DeviceEvent::Wifi(w) => match w {
            WifiEvent::ScanStarted { group_channels } => {
                json!({"kind": "wifi", "event": "SCAN_START", "group_channels": group_channels})
            }
            WifiEvent::ScanDone { count } => {
                json!({"kind": "wifi", "event": "WIFI_EVENT_SCAN_DONE", "count": count})
            }
            WifiEvent::Connecting { ssid } => {
                json!({"kind": "wifi", "event": "STA_CONNECTING", "ssid": text(ssid)})
            }
            WifiEvent::Associated => json!({"kind": "wifi", "event": "WIFI_EVENT_STA_CONNECTED"}),
            WifiEvent::Disconnected(r) => {
                json!({"kind": "wifi", "event": "WIFI_EVENT_STA_DISCONNECTED", "reason": r.0})
            }
            WifiEvent::GotIp(ip) => {
                json!({"kind": "wifi", "event": "IP_EVENT_STA_GOT_IP", "ip": ip.to_string()})
            }
        },
        DeviceEvent::StoreCredentials(c) => {
            json!({"kind": "store", "event": "CREDENTIALS_STORED", "ssid": text(&c.ssid)})
        }
        DeviceEvent::EraseCredentials => json!({"kind": "store", "event": "CREDENTIALS_ERASED"}),
        DeviceEvent::TransportStop => json!({"kind": "transport", "event": "TRANSPORT_STOP"}),
    }
}

/// The record of a firmware crash (a request answered `Reject::Crashed`); the reboot follows.
pub fn crash() -> Value {
    json!({"kind": "system", "event": "CRASH"})
}

/// Emit the record as one `tracing` line (target `sim_device::event`).
pub fn log(record: &EventRecord) {
    let b = &record.body;
    let field = |k: &str| {
        b.get(k)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
    };
    tracing::info!(
        target: "sim_device::event",
        seq = record.seq,
        boot = record.boot,
        kind = b["kind"].as_str().unwrap_or(""),
        event = b["event"].as_str().unwrap_or(""),
        ssid = field("ssid").as_deref(),
        reason = field("reason").as_deref(),
        ip = field("ip").as_deref(),
        count = field("count").as_deref(),
        "event"
    );
}
