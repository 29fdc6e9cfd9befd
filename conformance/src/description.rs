//! The device description file (TOML): what the suite cannot discover by asking the device.
//!
//! ```toml
//! security = 1                 # 0, 1 or 2 (proto-ver says it too; this is what the device *should* say)
//! pop = "abcd1234"             # Security 1; omit for no PoP
//! username = "wifiprov"        # Security 2
//! password = "abcd1234"        # Security 2
//! profile = "esp-idf-5.5"      # esp-idf-5.5 | network-prov-1.2 | zephyr
//! custom_endpoints = ["custom-data"]   # endpoints that echo their input (optional)
//! wrong_password = "not-the-password"  # tried against the first network to provoke AuthError
//! unknown_ssid = "provlab-no-such-network"
//! wifi_conn_attempts = 0       # the firmware's setting, if not 0
//! auto_stop = true             # the service stops after success (ESP-IDF default)
//! vectors_world = false        # the device sees the golden vectors' Wi-Fi (sim-device/worlds/vectors.toml)
//!
//! [[network]]                  # networks the device can join; the first is used
//! ssid = "myssid"
//! password = "mypassword"
//! ip = "192.168.1.42"          # expected address, if known
//!
//! [timing]
//! reply_ms = 15000             # longest wait for one reply
//! connect_ms = 30000           # longest wait for a Wi-Fi outcome after ApplyConfig
//!
//! [console]                    # console: and serial: devices
//! prefix = "net_prov"          # Zephyr's shell command; omit for ESP-IDF
//! prompt = ">> "
//! echo = true
//! startup_ms = 30000
//! line_max = 255               # usable characters per line (ESP-IDF's LINE_BUF_SIZE 256); 0 = no limit
//!
//! [reset]                      # how to bring the device back to "freshly booted, not provisioned"
//! control = "http://127.0.0.1:8081"   # provlab's simulator: its control channel (factory reset, boot count)
//! # command = "./power-cycle.sh"    # a program (sh -c) that reflashes or power-cycles the board
//! # console = "factory-reset"       # a console line that erases provisioning and reboots
//! #                                 # (command, else console, else control resets; control also counts boots)
//!
//! [ble]                        # ble: devices (spec §4.2)
//! stack = "bluedroid"          # bluedroid | nimble: how a failed request looks (§4.2.3); omit if unknown
//! adapter = "hci0"             # the client's adapter (default: BlueZ's default adapter)
//! scan_ms = 10000              # longest wait for the advertisement
//! ```

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use sim_device::config::example;

use crate::dut::line::LineOptions;
use prov_client::Profile;

/// A network the device can join.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// SSID.
    pub ssid: String,
    /// Passphrase (empty for an open network).
    #[serde(default)]
    pub password: String,
    /// Address the device should report once connected.
    #[serde(default)]
    pub ip: Option<Ipv4Addr>,
}

/// `[timing]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timing {
    /// Longest wait for one reply, in ms.
    pub reply_ms: u64,
    /// Longest wait for a Wi-Fi outcome after ApplyConfig, in ms.
    pub connect_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            reply_ms: 15_000,
            connect_ms: 30_000,
        }
    }
}

/// `[console]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Console {
    /// Words before the endpoint name.
    pub prefix: Option<String>,
    /// The prompt after each reply.
    pub prompt: String,
    /// Whether the device echoes input.
    pub echo: bool,
    /// Wait for the first prompt, in ms.
    pub startup_ms: u64,
    /// Usable characters per request line (ESP-IDF: 255, its `LINE_BUF_SIZE` of 256 with the CR);
    /// 0 = no limit (a host build, another stack, a board with a bigger buffer).
    pub line_max: usize,
}

/// ESP-IDF's console line: `LINE_BUF_SIZE` 256 including the CR.
pub const ESP_IDF_LINE_MAX: usize = 255;

/// `[reset]`: how the suite brings a device that keeps its state back to "freshly booted, not
/// provisioned" between cases (and after a crash): `command`, else `console`, else `control`. A
/// `control` channel also tells a reboot by its boot count, whichever way the device is reset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Reset {
    /// provlab's simulator control channel, `http://HOST:PORT`: `POST /factory-reset`, and the boot
    /// count of `GET /state` tells a reboot (a crash) apart.
    pub control: Option<String>,
    /// A program run with `sh -c` (reflash, power-cycle, erase NVS and reset a board).
    pub command: Option<String>,
    /// A console line that erases provisioning and reboots the device.
    pub console: Option<String>,
}

impl Reset {
    /// Whether the device file says how to reset the device.
    pub fn available(&self) -> bool {
        self.control.is_some() || self.command.is_some() || self.console.is_some()
    }
}

impl Default for Console {
    fn default() -> Self {
        let d = LineOptions::default();
        Self {
            prefix: d.prefix,
            prompt: d.prompt,
            echo: d.echo,
            startup_ms: u64::try_from(d.startup.as_millis()).unwrap_or(u64::MAX),
            line_max: ESP_IDF_LINE_MAX,
        }
    }
}

pub use sim_device::transport::ble::BleStack;

/// `[ble]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ble {
    /// The device's host stack, if known.
    pub stack: Option<BleStack>,
    /// The client's adapter (`hci0`…); `None` = BlueZ's default adapter.
    pub adapter: Option<String>,
    /// Longest wait for the device's advertisement, in ms.
    pub scan_ms: u64,
}

impl Default for Ble {
    fn default() -> Self {
        Self {
            stack: None,
            adapter: None,
            scan_ms: 10_000,
        }
    }
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Description {
    /// Security scheme the device runs.
    pub security: u8,
    /// Security 1 proof of possession; `None` = no PoP.
    #[serde(default)]
    pub pop: Option<String>,
    /// Security 2 username.
    #[serde(default)]
    pub username: Option<String>,
    /// Security 2 password.
    #[serde(default)]
    pub password: Option<String>,
    /// Expectations profile (the command line's `--profile` wins).
    #[serde(default)]
    pub profile: Option<String>,
    /// Endpoints that echo their input.
    #[serde(default)]
    pub custom_endpoints: Vec<String>,
    /// Passphrase tried to provoke AuthError.
    #[serde(default = "default_wrong_password")]
    pub wrong_password: String,
    /// An SSID no AP has, to provoke NetworkNotFound.
    #[serde(default = "default_unknown_ssid")]
    pub unknown_ssid: String,
    /// The firmware's `wifi_conn_attempts` (0 = unlimited retries until the manager gives up).
    #[serde(default)]
    pub wifi_conn_attempts: u32,
    /// The service stops after success (`wifi_prov_mgr_disable_auto_stop` not called).
    #[serde(default = "yes")]
    pub auto_stop: bool,
    /// The device's Wi-Fi environment is the golden vectors' (so their Wi-Fi steps can be replayed).
    #[serde(default)]
    pub vectors_world: bool,
    /// Networks the device can join.
    #[serde(default, rename = "network")]
    pub networks: Vec<Network>,
    /// Waiting limits.
    #[serde(default)]
    pub timing: Timing,
    /// Line-protocol framing.
    #[serde(default)]
    pub console: Console,
    /// BLE client settings.
    #[serde(default)]
    pub ble: Ble,
    /// How to reset the device between cases.
    #[serde(default)]
    pub reset: Reset,
}

fn yes() -> bool {
    true
}

fn default_wrong_password() -> String {
    "not-the-password".into()
}

fn default_unknown_ssid() -> String {
    "provlab-no-such-network".into()
}

impl Description {
    /// Parses a description; errors name the offending key.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let d: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        d.check()?;
        Ok(d)
    }

    /// Reads a description file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read device file {}: {e}", path.display()))?;
        Self::from_toml(&text).map_err(|e| format!("device file {}: {e}", path.display()))
    }

    /// What the embedded simulator is, described the same way (its defaults and default world).
    pub fn simulator(security: u8) -> Self {
        Self {
            security,
            pop: (security == 1).then(|| example::POP.into()),
            username: (security == 2).then(|| example::SEC2_USERNAME.into()),
            password: (security == 2).then(|| example::SEC2_PASSWORD.into()),
            profile: None,
            custom_endpoints: vec![example::CUSTOM_ENDPOINT.into()],
            wrong_password: default_wrong_password(),
            unknown_ssid: default_unknown_ssid(),
            wifi_conn_attempts: 0,
            auto_stop: true,
            vectors_world: false,
            networks: vec![Network {
                ssid: "myssid".into(),
                password: "mypassword".into(),
                ip: Some(Ipv4Addr::new(192, 168, 1, 42)),
            }],
            timing: Timing::default(),
            console: Console::default(),
            ble: Ble::default(),
            reset: Reset::default(),
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.security > 2 {
            return Err(format!("security = {}: expected 0, 1 or 2", self.security));
        }
        if self.security == 2 && (self.username.is_none() || self.password.is_none()) {
            return Err("security = 2 needs `username` and `password`".into());
        }
        if let Some(p) = &self.profile {
            p.parse::<Profile>()?;
        }
        if let Some(c) = &self.reset.control {
            let rest = c.strip_prefix("http://").unwrap_or_default();
            if rest.is_empty() || rest.trim_end_matches('/').contains('/') {
                return Err(format!(
                    "[reset] control = {c:?}: expected http://HOST:PORT (the simulator's --control address)"
                ));
            }
        }
        Ok(())
    }

    /// Reply timeout.
    pub fn reply_timeout(&self) -> Duration {
        Duration::from_millis(self.timing.reply_ms)
    }

    /// The longest request line the console takes (`None`: no limit).
    pub fn line_max(&self) -> Option<usize> {
        (self.console.line_max != 0).then_some(self.console.line_max)
    }

    /// Line-protocol options for console and serial devices.
    pub fn line_options(&self) -> LineOptions {
        LineOptions {
            prefix: self.console.prefix.clone(),
            prompt: self.console.prompt.clone(),
            echo: self.console.echo,
            timeout: self.reply_timeout(),
            startup: Duration::from_millis(self.console.startup_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let doc = include_str!("description.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//! "))
            .skip_while(|l| !l.starts_with("```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("```"))
            .collect::<Vec<_>>()
            .join("\n");
        let d = Description::from_toml(&doc).expect("documented example parses");
        assert_eq!(d.security, 1);
        assert_eq!(d.networks[0].ssid, "myssid");
        assert_eq!(d.console.prefix.as_deref(), Some("net_prov"));
        assert_eq!(d.ble.stack, Some(BleStack::Bluedroid));
    }

    #[test]
    fn typo_is_an_error_naming_the_key() {
        let e = Description::from_toml("security = 1\npopp = \"x\"\n").unwrap_err();
        assert!(e.contains("popp"), "{e}");
    }

    #[test]
    fn sec2_needs_credentials() {
        assert!(Description::from_toml("security = 2\n").is_err());
    }
}
