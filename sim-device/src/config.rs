//! Device configuration: what an ESP-IDF developer sets in menuconfig and in the example application.
//!
//! Where implementations legitimately differ (spec §8), the difference is a [`Profile`], never a guess.

use std::fmt;
use std::time::Duration;

use crate::misbehave::Misbehaviours;
use crate::wifi::WifiWorld;

/// Which firmware family the device reproduces (spec §8.2); the simulator models
/// [`Profile::SIMULATED`].
pub use prov_client::Profile;

/// Security 2 IV rule (spec §3.4.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sec2Patch {
    /// Legacy: one 16-byte IV for every message (GCM nonce reuse, fixed in 2025).
    V0,
    /// Current: 8 random bytes ‖ big-endian 32-bit counter shared by both directions.
    #[default]
    V1,
}

/// Proof of possession or SRP verifier material. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

/// The security scheme of the `prov-session` endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Security {
    /// Security 0: no handshake, plaintext data.
    Sec0,
    /// Security 1: X25519 + optional PoP + AES-256-CTR. `None` = no PoP (`no_pop` capability);
    /// `Some` with an empty string is a PoP that has no effect on the key but does not set `no_pop`.
    Sec1 {
        /// Proof of possession, raw bytes.
        pop: Option<Secret>,
    },
    /// Security 2: SRP-6a 3072/SHA-512 + AES-256-GCM. The device holds only the salt and verifier.
    Sec2 {
        /// SRP salt as configured.
        salt: Vec<u8>,
        /// SRP verifier `v = g^x mod N`, big-endian.
        verifier: Secret,
        /// IV rule.
        patch: Sec2Patch,
    },
}

/// The credentials of ESP-IDF's `wifi_prov_mgr` example, which the simulator uses unless told otherwise
/// (and the golden vectors' custom endpoint).
pub mod example {
    /// Security 1 proof of possession.
    pub const POP: &str = "abcd1234";
    /// Security 2 username.
    pub const SEC2_USERNAME: &str = "wifiprov";
    /// Security 2 password.
    pub const SEC2_PASSWORD: &str = "abcd1234";
    /// The echo endpoint esp_prov's `--custom_data` talks to.
    pub const CUSTOM_ENDPOINT: &str = "custom-data";
}

impl Security {
    /// Scheme `sec` (0, 1 or 2) with the example's credentials; Security 2 derives the verifier for
    /// `salt`. `None` for an unknown scheme.
    pub fn example(sec: u8, salt: &[u8]) -> Option<Self> {
        Some(match sec {
            0 => Self::Sec0,
            1 => Self::Sec1 {
                pop: Some(Secret(example::POP.as_bytes().to_vec())),
            },
            2 => Self::Sec2 {
                salt: salt.to_vec(),
                verifier: Secret(prov_client::srp::verifier(
                    example::SEC2_USERNAME.as_bytes(),
                    example::SEC2_PASSWORD.as_bytes(),
                    salt,
                )),
                patch: Sec2Patch::V1,
            },
            _ => return None,
        })
    }

    /// The scheme number (`sec_ver`).
    pub fn version(&self) -> u32 {
        match self {
            Self::Sec0 => 0,
            Self::Sec1 { .. } => 1,
            Self::Sec2 { .. } => 2,
        }
    }
}

/// What a custom (application) endpoint does with a request's plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustomBehaviour {
    /// Answer with the request bytes (the golden vectors' `custom-data`).
    Echo,
    /// Answer with fixed bytes (the ESP-IDF example answers `SUCCESS\0`).
    Fixed(Vec<u8>),
}

/// An application endpoint registered with the manager (spec §6.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomEndpoint {
    /// Endpoint name (HTTP path, BLE 0x2901 description, console command).
    pub name: String,
    /// What it answers.
    pub behaviour: CustomBehaviour,
}

impl CustomEndpoint {
    /// An echo endpoint named `name`.
    pub fn echo(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            behaviour: CustomBehaviour::Echo,
        }
    }
}

/// An application label in the `proto-ver` JSON (`*_set_app_info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppInfo {
    /// Top-level JSON key.
    pub label: String,
    /// Its `ver` string.
    pub version: String,
    /// Its `cap` array.
    pub capabilities: Vec<String>,
}

/// Wi-Fi credentials as the station stores them. `Debug` never prints the passphrase.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    /// SSID bytes (≤ 32).
    pub ssid: Vec<u8>,
    /// Passphrase bytes (≤ 63).
    pub passphrase: Vec<u8>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("ssid", &String::from_utf8_lossy(&self.ssid))
            .field("passphrase", &"<redacted>")
            .finish()
    }
}

/// Everything the device needs at boot.
#[derive(Clone, Debug)]
pub struct DeviceConfig {
    /// Security scheme.
    pub security: Security,
    /// Firmware family.
    pub profile: Profile,
    /// Stop the service after success (default on, spec §6.2).
    pub auto_stop: bool,
    /// Auto-stop timer after the IP is obtained (`CONFIG_WIFI_PROV_AUTOSTOP_TIMEOUT`, 30 s).
    pub auto_stop_timeout: Duration,
    /// Delay between "provisioning done" and teardown (`cleanup_delay`, 1000 ms).
    pub cleanup_delay: Duration,
    /// Delay between ApplyConfig and `esp_wifi_connect()` (1000 ms in the manager).
    pub apply_delay: Duration,
    /// `wifi_conn_attempts` (0 = legacy endless retry semantics).
    pub wifi_conn_attempts: u32,
    /// `CONFIG_WIFI_PROV_SCAN_MAX_ENTRIES` (16).
    pub scan_max_entries: u32,
    /// Application endpoints, in creation order.
    pub custom_endpoints: Vec<CustomEndpoint>,
    /// Application labels of the `proto-ver` JSON, in the order added.
    pub app_info: Vec<AppInfo>,
    /// Credentials found in flash at boot: a device with a non-empty SSID is provisioned and skips
    /// provisioning (spec §6.3) unless `force_provisioning` is set.
    pub stored_credentials: Option<Credentials>,
    /// Start provisioning even when provisioned (the example's "reprovision" button).
    pub force_provisioning: bool,
    /// The fake Wi-Fi world.
    pub wifi: WifiWorld,
    /// Deliberate defects to reproduce (for testing conformance suites; empty = a correct device).
    pub misbehave: Misbehaviours,
    /// Secure sessions held at once. ESP-IDF's security layer keeps one (a new transport session
    /// evicts the previous); more is a simulator extension for load tests, where the least recently
    /// opened session is evicted when a new one would exceed the limit.
    pub max_sessions: usize,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            security: Security::Sec0,
            profile: Profile::default(),
            auto_stop: true,
            auto_stop_timeout: Duration::from_secs(30),
            cleanup_delay: Duration::from_millis(1000),
            apply_delay: Duration::from_millis(1000),
            wifi_conn_attempts: 0,
            scan_max_entries: 16,
            custom_endpoints: Vec::new(),
            app_info: Vec::new(),
            stored_credentials: None,
            force_provisioning: false,
            wifi: WifiWorld::default(),
            misbehave: Misbehaviours::new(),
            max_sessions: 1,
        }
    }
}
