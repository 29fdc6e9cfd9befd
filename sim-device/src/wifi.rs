//! The fake Wi-Fi: an AP table, scan timing and connect outcomes (spec §5.1, §5.2; vectors README).
//!
//! Pure data and functions: the manager owns the timers and asks this module what a scan finds and how a
//! connect attempt ends. Faults beyond the three classic outcomes are per-AP [`ApFault`]s, so a world file
//! can add more without touching the manager.

use std::net::Ipv4Addr;
use std::time::Duration;

/// ESP-IDF `wifi_err_reason_t` values the manager maps (spec §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DisconnectReason(pub u16);

impl DisconnectReason {
    /// `WIFI_REASON_MIC_FAILURE`.
    pub const MIC_FAILURE: Self = Self(14);
    /// `WIFI_REASON_4WAY_HANDSHAKE_TIMEOUT`.
    pub const FOUR_WAY_HANDSHAKE_TIMEOUT: Self = Self(15);
    /// `WIFI_REASON_BEACON_TIMEOUT` (the AP vanished).
    pub const BEACON_TIMEOUT: Self = Self(200);
    /// `WIFI_REASON_NO_AP_FOUND`.
    pub const NO_AP_FOUND: Self = Self(201);
    /// `WIFI_REASON_AUTH_FAIL`.
    pub const AUTH_FAIL: Self = Self(202);
    /// `WIFI_REASON_HANDSHAKE_TIMEOUT`.
    pub const HANDSHAKE_TIMEOUT: Self = Self(204);

    /// How the manager reports it: `Some(AuthError | NetworkNotFound)`, or `None` for reasons the manager
    /// does not map (it retries, spec §5.1).
    pub fn failure(self) -> Option<ConnectFailure> {
        match self.0 {
            14 | 15 | 202 | 204 => Some(ConnectFailure::AuthError),
            201 => Some(ConnectFailure::NetworkNotFound),
            _ => None,
        }
    }
}

/// `WifiConnectFailedReason` (spec §2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectFailure {
    /// Wrong password or handshake failure.
    AuthError,
    /// No AP with that SSID.
    NetworkNotFound,
}

/// A fault injected on one AP, beyond the outcome its password decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApFault {
    /// Association never completes: `WIFI_REASON_4WAY_HANDSHAKE_TIMEOUT` (→ AuthError).
    HandshakeTimeout,
    /// Associates but DHCP never gives an address: the station stays Connecting.
    NoIp,
    /// Fails `times` connect attempts with `reason`, then behaves normally.
    Flaky {
        /// Attempts that fail.
        times: u32,
        /// Reason reported for each failure.
        reason: DisconnectReason,
    },
    /// Connects, then disappears after `after` (`WIFI_REASON_BEACON_TIMEOUT`).
    VanishAfter {
        /// Time from GOT_IP to the disconnect.
        after: Duration,
    },
}

/// One access point of the world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ap {
    /// SSID bytes as broadcast (≤ 32; a NUL byte ends it on the device).
    pub ssid: Vec<u8>,
    /// BSSID.
    pub bssid: [u8; 6],
    /// Primary channel (1–14).
    pub channel: u8,
    /// Signal strength in dBm.
    pub rssi: i8,
    /// Raw ESP-IDF `wifi_auth_mode_t` (values above 7 exist, spec §2.6).
    pub auth: u32,
    /// Passphrase the AP accepts (ignored for Open networks).
    pub password: Vec<u8>,
    /// Hidden SSIDs are not reported by scans.
    pub hidden: bool,
    /// Injected fault, if any.
    pub fault: Option<ApFault>,
}

/// Timing of the fake radio (defaults as the golden vectors' oracle).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WifiTiming {
    /// Dwell time per scanned channel.
    pub scan_per_channel: Duration,
    /// `esp_wifi_connect()` to association result.
    pub connect: Duration,
    /// Association to `IP_EVENT_STA_GOT_IP`.
    pub dhcp: Duration,
}

impl Default for WifiTiming {
    fn default() -> Self {
        Self {
            scan_per_channel: Duration::from_millis(120),
            connect: Duration::from_millis(500),
            dhcp: Duration::from_millis(50),
        }
    }
}

/// The radio environment the device sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WifiWorld {
    /// Access points in range.
    pub aps: Vec<Ap>,
    /// Address DHCP hands out.
    pub ip_on_connect: Ipv4Addr,
    /// Radio timing.
    pub timing: WifiTiming,
    /// Every scan finds nothing (e.g. antenna fault).
    pub empty_scan: bool,
}

impl Default for WifiWorld {
    fn default() -> Self {
        Self {
            aps: Vec::new(),
            ip_on_connect: Ipv4Addr::new(192, 168, 1, 42),
            timing: WifiTiming::default(),
            empty_scan: false,
        }
    }
}

/// ESP-IDF `wifi_auth_mode_t` names, indexed by raw value (spec §2.6).
const AUTH_MODE_NAMES: [&str; 17] = [
    "Open",
    "WEP",
    "WPA_PSK",
    "WPA2_PSK",
    "WPA_WPA2_PSK",
    "WPA2_ENTERPRISE",
    "WPA3_PSK",
    "WPA2_WPA3_PSK",
    "WAPI_PSK",
    "OWE",
    "WPA3_ENT_192",
    "WPA3_EXT_PSK",
    "WPA3_EXT_PSK_MIXED_MODE",
    "DPP",
    "WPA3_ENTERPRISE",
    "WPA2_WPA3_ENTERPRISE",
    "WPA_ENTERPRISE",
];

/// ESP-IDF `wifi_auth_mode_t` names → raw values (spec §2.6).
pub fn auth_mode_from_name(name: &str) -> Option<u32> {
    AUTH_MODE_NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(name))
        .map(|i| i as u32)
}

/// The ESP-IDF name of a raw `wifi_auth_mode_t`, if it has one.
pub fn auth_mode_name(auth: u32) -> Option<&'static str> {
    AUTH_MODE_NAMES.get(auth as usize).copied()
}

/// How one connect attempt ends, decided when it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectOutcome {
    /// Associated with AP `index`; `dhcp` says whether an address follows.
    Associated {
        /// Index into [`WifiWorld::aps`].
        index: usize,
        /// Whether DHCP answers.
        dhcp: bool,
    },
    /// Disconnected with this reason.
    Failed(DisconnectReason),
}

impl WifiWorld {
    /// The channels a scan visits and when it ends, for `CmdScanStart{group_channels}` (spec §5.2):
    /// 0 = one pass over channels 1–13; G > 0 = channel by channel with a pause after every G-th channel.
    pub fn scan_duration(&self, group_channels: u32) -> Duration {
        let per = self.timing.scan_per_channel;
        let mut total = per * 13;
        if group_channels > 0 {
            let pauses = (1..=13u32).filter(|c| c % group_channels == 0).count() as u32;
            total += per * pauses;
        }
        total
    }

    /// What a scan reports: visible APs, strongest first (stable for equal RSSI), capped at `max`.
    pub fn scan(&self, max: usize) -> Vec<Ap> {
        if self.empty_scan {
            return Vec::new();
        }
        let mut found: Vec<Ap> = self
            .aps
            .iter()
            .filter(|ap| !ap.hidden && (1..=13).contains(&ap.channel))
            .cloned()
            .collect();
        // Stable: equal RSSI keeps table order, as the vectors show.
        found.sort_by_key(|ap| std::cmp::Reverse(ap.rssi));
        found.truncate(max);
        found
    }

    /// Decide a connect attempt to `ssid` with `passphrase`; `attempt` counts earlier attempts to the
    /// same network in this run (for [`ApFault::Flaky`]).
    pub fn connect(&self, ssid: &[u8], passphrase: &[u8], attempt: u32) -> ConnectOutcome {
        let Some(index) = self.aps.iter().position(|ap| ap.ssid == ssid) else {
            return ConnectOutcome::Failed(DisconnectReason::NO_AP_FOUND);
        };
        let ap = &self.aps[index];
        match ap.fault {
            Some(ApFault::HandshakeTimeout) => {
                return ConnectOutcome::Failed(DisconnectReason::FOUR_WAY_HANDSHAKE_TIMEOUT)
            }
            Some(ApFault::Flaky { times, reason }) if attempt < times => {
                return ConnectOutcome::Failed(reason)
            }
            _ => {}
        }
        let open = ap.auth == 0;
        if !open && ap.password != passphrase {
            return ConnectOutcome::Failed(DisconnectReason::AUTH_FAIL);
        }
        ConnectOutcome::Associated {
            index,
            dhcp: ap.fault != Some(ApFault::NoIp),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ap(ssid: &str, rssi: i8, auth: u32, password: &str) -> Ap {
        Ap {
            ssid: ssid.into(),
            bssid: [2, 0, 0, 0, 0, 1],
            channel: 6,
            rssi,
            auth,
            password: password.into(),
            hidden: false,
            fault: None,
        }
    }

    #[test]
    fn outcomes_follow_password_and_presence() {
        let w = WifiWorld {
            aps: vec![ap("home", -40, 3, "pw"), ap("open", -50, 0, "")],
            ..Default::default()
        };
        assert!(matches!(
            w.connect(b"home", b"pw", 0),
            ConnectOutcome::Associated {
                index: 0,
                dhcp: true
            }
        ));
        assert_eq!(
            w.connect(b"home", b"nope", 0),
            ConnectOutcome::Failed(DisconnectReason::AUTH_FAIL)
        );
        assert_eq!(
            w.connect(b"gone", b"pw", 0),
            ConnectOutcome::Failed(DisconnectReason::NO_AP_FOUND)
        );
        assert!(matches!(
            w.connect(b"open", b"anything", 0),
            ConnectOutcome::Associated { index: 1, .. }
        ));
    }

    #[test]
    fn reasons_map_as_the_manager_does() {
        assert_eq!(
            DisconnectReason::AUTH_FAIL.failure(),
            Some(ConnectFailure::AuthError)
        );
        assert_eq!(
            DisconnectReason(15).failure(),
            Some(ConnectFailure::AuthError)
        );
        assert_eq!(
            DisconnectReason::NO_AP_FOUND.failure(),
            Some(ConnectFailure::NetworkNotFound)
        );
        assert_eq!(DisconnectReason(210).failure(), None);
    }

    #[test]
    fn scan_sorts_by_rssi_stably_and_caps() {
        let w = WifiWorld {
            aps: vec![
                ap("a", -60, 0, ""),
                ap("b", -40, 0, ""),
                ap("c", -60, 0, ""),
            ],
            ..Default::default()
        };
        let names: Vec<_> = w.scan(16).into_iter().map(|a| a.ssid).collect();
        assert_eq!(names, vec![b"b".to_vec(), b"a".to_vec(), b"c".to_vec()]);
        assert_eq!(w.scan(1).len(), 1);
        assert_eq!(w.scan_duration(0), Duration::from_millis(1560));
        assert_eq!(w.scan_duration(5), Duration::from_millis(1800));
    }
}
