//! What the device reports to its driver (drain with `Device::poll_event` after every input).
//!
//! Events carry no secret except [`DeviceEvent::StoreCredentials`], whose `Debug` redacts the passphrase:
//! the core writes no files, the driver persists the credentials and hands them back at boot.

use std::net::Ipv4Addr;

use crate::config::Credentials;
use crate::security::SecurityEvent;
use crate::wifi::{ConnectFailure, DisconnectReason};

/// Provisioning manager events (`WIFI_PROV_EVENT`, spec §6.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProvEvent {
    /// Service started (also after CtrlReprov).
    Start,
    /// ApplyConfig received, before the state check.
    SetStaConfig,
    /// Credentials accepted.
    CredRecv {
        /// SSID being joined.
        ssid: Vec<u8>,
    },
    /// Final connection failure.
    CredFail(ConnectFailure),
    /// Station got an IP address.
    CredSuccess,
    /// Service stopped.
    End,
}

/// What the fake radio did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WifiEvent {
    /// A scan started (`group_channels` 0 = all channels at once).
    ScanStarted {
        /// Channels per group.
        group_channels: u32,
    },
    /// A scan finished with this many results.
    ScanDone {
        /// Number of APs found (capped).
        count: usize,
    },
    /// `esp_wifi_connect()`.
    Connecting {
        /// Target SSID.
        ssid: Vec<u8>,
    },
    /// Associated with the AP.
    Associated,
    /// `WIFI_EVENT_STA_DISCONNECTED`.
    Disconnected(DisconnectReason),
    /// `IP_EVENT_STA_GOT_IP`.
    GotIp(Ipv4Addr),
}

/// Anything the driver should know about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceEvent {
    /// Manager lifecycle.
    Prov(ProvEvent),
    /// Security session events.
    Security(SecurityEvent),
    /// Radio activity.
    Wifi(WifiEvent),
    /// Persist these credentials (atomically); they were applied.
    StoreCredentials(Credentials),
    /// Erase persisted credentials (factory reset).
    EraseCredentials,
    /// The provisioning transport must stop (HTTP server down, BLE stack off).
    TransportStop,
}
