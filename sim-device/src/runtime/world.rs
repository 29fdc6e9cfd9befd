//! The world file: the fake radio environment in TOML (and the same shape as JSON on the control channel).
//!
//! Everything a test or an app developer wants to stage is data here: the AP table, per-AP faults (wrong
//! password and unknown SSID need none: they follow from the table), an empty scan, and per-step latencies.
//! The file is parsed into [`WifiWorld`] plus transport-level settings; the core never sees this format.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::wifi::{
    auth_mode_from_name, auth_mode_name, Ap, ApFault, DisconnectReason, WifiTiming, WifiWorld,
};

/// The world shipped with the binary (used when `--world` is not given).
pub const DEFAULT_WORLD: &str = include_str!("../../worlds/default.toml");

/// A parsed world: the radio plus what the transports add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct World {
    /// The fake Wi-Fi.
    pub wifi: WifiWorld,
    /// Extra delay before every reply leaves the device (a slow chip or a busy air).
    pub reply_latency: Duration,
}

/// The file format, field for field (`#[serde(deny_unknown_fields)]`: a typo is an error, not a default).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldFile {
    /// Address DHCP hands out on connect.
    #[serde(default = "default_ip")]
    pub ip: Ipv4Addr,
    /// Every scan finds nothing.
    #[serde(default)]
    pub empty_scan: bool,
    /// Step latencies.
    #[serde(default)]
    pub timing: TimingFile,
    /// Access points.
    #[serde(default, rename = "ap")]
    pub aps: Vec<ApFile>,
}

/// `[timing]`, in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingFile {
    /// Scan dwell per channel (a full scan visits 13 channels).
    pub scan_per_channel_ms: u64,
    /// `esp_wifi_connect()` to association or failure.
    pub connect_ms: u64,
    /// Association to GOT_IP.
    pub dhcp_ms: u64,
    /// Added before every reply.
    pub reply_ms: u64,
}

impl Default for TimingFile {
    fn default() -> Self {
        let t = WifiTiming::default();
        Self {
            scan_per_channel_ms: t.scan_per_channel.as_millis() as u64,
            connect_ms: t.connect.as_millis() as u64,
            dhcp_ms: t.dhcp.as_millis() as u64,
            reply_ms: 0,
        }
    }
}

/// One `[[ap]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApFile {
    /// SSID (UTF-8; up to 32 bytes).
    pub ssid: String,
    /// `aa:bb:cc:dd:ee:ff`; derived from the SSID when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bssid: Option<String>,
    /// Channel 1–13 (14 and above are never scanned, as on an ESP32 in most regions).
    #[serde(default = "default_channel")]
    pub channel: u8,
    /// dBm.
    #[serde(default = "default_rssi")]
    pub rssi: i8,
    /// `wifi_auth_mode_t` name (`Open`, `WPA2_PSK`, `WPA2_WPA3_PSK`, ...) or raw number as a string.
    #[serde(default = "default_auth")]
    pub auth: String,
    /// Passphrase the AP accepts (ignored when `auth = "Open"`).
    #[serde(default)]
    pub password: String,
    /// Not reported by scans, still joinable.
    #[serde(default)]
    pub hidden: bool,
    /// Injected fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultFile>,
}

/// `fault = { kind = "..." , ... }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FaultFile {
    /// The 4-way handshake never completes (AuthError after the attempt).
    HandshakeTimeout,
    /// Associates, but DHCP never answers: the station stays Connecting.
    NoIp,
    /// Fails `times` attempts with `reason`, then works.
    Flaky {
        /// Attempts that fail.
        times: u32,
        /// Disconnect reason: a number or a name (see [`reason_from_name`]).
        #[serde(default = "default_flaky_reason")]
        reason: Reason,
    },
    /// Disappears `after_ms` after the station got its address.
    Vanish {
        /// Milliseconds from GOT_IP to the beacon timeout.
        after_ms: u64,
    },
}

/// A disconnect reason given as a number or a name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reason {
    /// Raw `wifi_err_reason_t`.
    Code(u16),
    /// A name such as `auth-fail`.
    Name(String),
}

impl Reason {
    /// The raw reason, or an error naming the accepted names.
    pub fn resolve(&self) -> Result<DisconnectReason, String> {
        match self {
            Self::Code(c) => Ok(DisconnectReason(*c)),
            Self::Name(n) => reason_from_name(n).ok_or_else(|| {
                format!(
                    "unknown disconnect reason {n:?}: use a number or one of {}",
                    REASONS.iter().map(|r| r.0).collect::<Vec<_>>().join(", ")
                )
            }),
        }
    }
}

const REASONS: [(&str, DisconnectReason); 6] = [
    ("auth-fail", DisconnectReason::AUTH_FAIL),
    ("no-ap-found", DisconnectReason::NO_AP_FOUND),
    ("handshake-timeout", DisconnectReason::HANDSHAKE_TIMEOUT),
    (
        "4way-handshake-timeout",
        DisconnectReason::FOUR_WAY_HANDSHAKE_TIMEOUT,
    ),
    ("mic-failure", DisconnectReason::MIC_FAILURE),
    ("beacon-timeout", DisconnectReason::BEACON_TIMEOUT),
];

/// Named disconnect reasons accepted in world files and on the control channel.
pub fn reason_from_name(name: &str) -> Option<DisconnectReason> {
    REASONS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, r)| *r)
}

fn default_ip() -> Ipv4Addr {
    WifiWorld::default().ip_on_connect
}
fn default_channel() -> u8 {
    6
}
fn default_rssi() -> i8 {
    -50
}
fn default_auth() -> String {
    "WPA2_PSK".into()
}
fn default_flaky_reason() -> Reason {
    Reason::Name("auth-fail".into())
}

impl WorldFile {
    /// Parse TOML text; errors name the offending key and line.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Read and parse a world file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read world file {}: {e}", path.display()))?;
        Self::from_toml(&text).map_err(|e| format!("world file {}: {e}", path.display()))
    }

    /// Validate and convert.
    pub fn to_world(&self) -> Result<World, String> {
        let mut aps = Vec::with_capacity(self.aps.len());
        for (i, ap) in self.aps.iter().enumerate() {
            aps.push(
                ap.to_ap()
                    .map_err(|e| format!("ap #{} ({:?}): {e}", i + 1, ap.ssid))?,
            );
        }
        let t = &self.timing;
        Ok(World {
            wifi: WifiWorld {
                aps,
                ip_on_connect: self.ip,
                timing: WifiTiming {
                    scan_per_channel: Duration::from_millis(t.scan_per_channel_ms),
                    connect: Duration::from_millis(t.connect_ms),
                    dhcp: Duration::from_millis(t.dhcp_ms),
                },
                empty_scan: self.empty_scan,
            },
            reply_latency: Duration::from_millis(t.reply_ms),
        })
    }

    /// The file form of a running world (for `GET /world`).
    pub fn from_world(world: &World) -> Self {
        let w = &world.wifi;
        Self {
            ip: w.ip_on_connect,
            empty_scan: w.empty_scan,
            timing: TimingFile {
                scan_per_channel_ms: w.timing.scan_per_channel.as_millis() as u64,
                connect_ms: w.timing.connect.as_millis() as u64,
                dhcp_ms: w.timing.dhcp.as_millis() as u64,
                reply_ms: world.reply_latency.as_millis() as u64,
            },
            aps: w.aps.iter().map(ApFile::from_ap).collect(),
        }
    }
}

impl ApFile {
    fn to_ap(&self) -> Result<Ap, String> {
        let ssid = self.ssid.as_bytes().to_vec();
        if ssid.is_empty() || ssid.len() > 32 {
            return Err(format!("ssid must be 1 to 32 bytes, got {}", ssid.len()));
        }
        if self.password.len() > 63 {
            return Err("password longer than 63 bytes".into());
        }
        let auth = auth_mode_from_name(&self.auth)
            .or_else(|| self.auth.parse().ok())
            .ok_or_else(|| {
                format!(
                    "unknown auth mode {:?} (try Open, WPA2_PSK, WPA2_WPA3_PSK)",
                    self.auth
                )
            })?;
        // WPA needs 8 to 63 characters; WEP keys are 5 or 13 (or hex), so only WPA is checked.
        if auth >= 2 && self.password.len() < 8 {
            return Err(format!(
                "auth {} needs a password of 8 to 63 bytes",
                self.auth
            ));
        }
        let bssid = match &self.bssid {
            Some(text) => parse_mac(text)?,
            None => derived_bssid(&ssid),
        };
        let fault = match &self.fault {
            None => None,
            Some(FaultFile::HandshakeTimeout) => Some(ApFault::HandshakeTimeout),
            Some(FaultFile::NoIp) => Some(ApFault::NoIp),
            Some(FaultFile::Flaky { times, reason }) => Some(ApFault::Flaky {
                times: *times,
                reason: reason.resolve()?,
            }),
            Some(FaultFile::Vanish { after_ms }) => Some(ApFault::VanishAfter {
                after: Duration::from_millis(*after_ms),
            }),
        };
        Ok(Ap {
            ssid,
            bssid,
            channel: self.channel,
            rssi: self.rssi,
            auth,
            password: self.password.as_bytes().to_vec(),
            hidden: self.hidden,
            fault,
        })
    }

    fn from_ap(ap: &Ap) -> Self {
        let fault = ap.fault.map(|f| match f {
            ApFault::HandshakeTimeout => FaultFile::HandshakeTimeout,
            ApFault::NoIp => FaultFile::NoIp,
            ApFault::Flaky { times, reason } => FaultFile::Flaky {
                times,
                reason: Reason::Code(reason.0),
            },
            ApFault::VanishAfter { after } => FaultFile::Vanish {
                after_ms: after.as_millis() as u64,
            },
        });
        Self {
            ssid: String::from_utf8_lossy(&ap.ssid).into_owned(),
            bssid: Some(format_mac(&ap.bssid)),
            channel: ap.channel,
            rssi: ap.rssi,
            auth: auth_name(ap.auth),
            password: String::from_utf8_lossy(&ap.password).into_owned(),
            hidden: ap.hidden,
            fault,
        }
    }
}

fn auth_name(auth: u32) -> String {
    auth_mode_name(auth).map_or_else(|| auth.to_string(), str::to_owned)
}

/// Parse `aa:bb:cc:dd:ee:ff` (or without separators).
pub fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let hexdigits: String = text.chars().filter(|c| *c != ':' && *c != '-').collect();
    let bytes = hex::decode(&hexdigits).map_err(|_| format!("bad MAC address {text:?}"))?;
    bytes
        .try_into()
        .map_err(|_| format!("MAC address {text:?} is not 6 bytes"))
}

/// `aa:bb:cc:dd:ee:ff`, lower case.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A stable, locally administered BSSID for an SSID without one (FNV-1a of the SSID).
fn derived_bssid(ssid: &[u8]) -> [u8; 6] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in ssid {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    [0x02, b[3], b[4], b[5], b[6], b[7]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_world_parses_and_round_trips() {
        let file = WorldFile::from_toml(DEFAULT_WORLD).expect("default world");
        let world = file.to_world().expect("valid");
        assert!(world.wifi.aps.iter().any(|a| a.ssid == b"myssid"));
        let again = WorldFile::from_world(&world)
            .to_world()
            .expect("round trip");
        assert_eq!(again, world);
    }

    #[test]
    fn every_fault_kind_parses() {
        let text = r#"
            empty_scan = true
            [timing]
            scan_per_channel_ms = 10
            connect_ms = 20
            dhcp_ms = 30
            reply_ms = 40
            [[ap]]
            ssid = "a"
            password = "password1"
            fault = { kind = "handshake-timeout" }
            [[ap]]
            ssid = "b"
            auth = "Open"
            fault = { kind = "no-ip" }
            [[ap]]
            ssid = "c"
            auth = "Open"
            fault = { kind = "flaky", times = 2, reason = "no-ap-found" }
            [[ap]]
            ssid = "d"
            auth = "Open"
            fault = { kind = "vanish", after_ms = 1500 }
        "#;
        let w = WorldFile::from_toml(text).unwrap().to_world().unwrap();
        let faults: Vec<_> = w.wifi.aps.iter().map(|a| a.fault).collect();
        assert_eq!(
            faults,
            vec![
                Some(ApFault::HandshakeTimeout),
                Some(ApFault::NoIp),
                Some(ApFault::Flaky {
                    times: 2,
                    reason: DisconnectReason::NO_AP_FOUND
                }),
                Some(ApFault::VanishAfter {
                    after: Duration::from_millis(1500)
                }),
            ]
        );
        assert!(w.wifi.empty_scan);
        assert_eq!(w.reply_latency, Duration::from_millis(40));
        assert_eq!(w.wifi.timing.connect, Duration::from_millis(20));
    }

    #[test]
    fn mistakes_are_named() {
        let typo =
            WorldFile::from_toml("[[ap]]\nssid = \"x\"\npasword = \"12345678\"\n").unwrap_err();
        assert!(typo.contains("pasword"), "{typo}");
        let short = WorldFile::from_toml("[[ap]]\nssid = \"x\"\npassword = \"short\"\n")
            .unwrap()
            .to_world()
            .unwrap_err();
        assert!(short.contains("8 to 63"), "{short}");
        let reason = WorldFile::from_toml(
            "[[ap]]\nssid = \"x\"\nauth = \"Open\"\nfault = { kind = \"flaky\", times = 1, reason = \"nope\" }\n",
        )
        .unwrap()
        .to_world()
        .unwrap_err();
        assert!(reason.contains("auth-fail"), "{reason}");
    }
}
