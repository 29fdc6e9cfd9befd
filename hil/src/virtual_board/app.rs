//! The images of a virtual firmware bundle. A virtual bundle has the layout of an ESP-IDF build (a
//! `flasher_args.json`, a bootloader, a real binary partition table, an app at the factory partition),
//! but its bootloader and app are short text images the virtual chip understands:
//!
//! ```text
//! provlab-virtual-bootloader/1
//! ```
//!
//! ```toml
//! provlab-virtual-app/1
//! # What the application is: sim-device with these settings.
//! project = "wifi_prov_mgr"
//! transport = "softap"                       # softap | console | ble
//! args = ["--security", "1", "--pop", "abcd1234"]
//! ```
//!
//! `args` are sim-device's flags for what the firmware was built with (security, profile, misbehaviours);
//! what the board decides (MAC, address, NVS, console) the virtual chip adds.

use serde::Deserialize;

use crate::firmware::Bundle;
use crate::inventory::Capability;

/// First line of a virtual bootloader image.
pub const BOOTLOADER_MAGIC: &str = "provlab-virtual-bootloader/1";
/// First line of a virtual app image.
pub const APP_MAGIC: &str = "provlab-virtual-app/1";

/// Flags the board sets, so the app may not.
const BOARD_FLAGS: [&str; 10] = [
    "--transport",
    "--mac",
    "--listen",
    "--control",
    "--no-control",
    "--state-dir",
    "--uart-log",
    "--chip",
    "--console-pty",
    "--ble-adapter",
];

/// A virtual application.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualApp {
    /// The ESP-IDF project it stands for, e.g. `wifi_prov_mgr`.
    pub project: String,
    /// How provisioning reaches it.
    pub transport: String,
    /// sim-device flags.
    #[serde(default)]
    pub args: Vec<String>,
}

impl VirtualApp {
    /// Parses an app image.
    pub fn parse(image: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(image)
            .map_err(|_| "the app image is not a virtual app (not text)".to_owned())?;
        let body = text
            .strip_prefix(APP_MAGIC)
            .ok_or_else(|| format!("the app image does not start with {APP_MAGIC:?}"))?;
        let app: Self =
            toml::from_str(body).map_err(|e| format!("virtual app: {}", e.message()))?;
        if app.capability().is_none() {
            return Err(format!(
                "virtual app: transport {:?} is not softap, console or ble",
                app.transport
            ));
        }
        if let Some(bad) = app
            .args
            .iter()
            .find(|a| BOARD_FLAGS.contains(&a.split('=').next().unwrap_or(a)))
        {
            return Err(format!(
                "virtual app: {bad} is the board's to set, not the firmware's"
            ));
        }
        Ok(app)
    }

    /// The transport as a capability.
    pub fn capability(&self) -> Option<Capability> {
        match self.transport.as_str() {
            "softap" => Some(Capability::Softap),
            "console" => Some(Capability::Console),
            "ble" => Some(Capability::Ble),
            _ => None,
        }
    }

    /// The app of a virtual bundle (the image at its boot partition), checking its bootloader too.
    pub fn from_bundle(bundle: &Bundle) -> Result<Self, String> {
        let boot_at = match bundle.chip.as_deref().map(str::parse) {
            Some(Ok(chip)) => sim_device::runtime::uart::rom::Chip::bootloader_offset(chip),
            _ => 0,
        };
        let boot = bundle
            .images
            .iter()
            .find(|i| i.offset == boot_at)
            .ok_or_else(|| format!("no bootloader image at {boot_at:#x}"))?;
        if !boot.bytes.starts_with(BOOTLOADER_MAGIC.as_bytes()) {
            return Err(format!(
                "the image at {boot_at:#x} is not a virtual bootloader ({BOOTLOADER_MAGIC})"
            ));
        }
        let part = bundle
            .table
            .boot_app()
            .ok_or_else(|| "the partition table has no app partition".to_owned())?;
        let image = bundle
            .images
            .iter()
            .find(|i| i.offset == part.offset)
            .ok_or_else(|| {
                format!(
                    "no image at the {} partition ({:#x})",
                    part.name, part.offset
                )
            })?;
        Self::parse(&image.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_what_the_board_decides() {
        let ok = format!("{APP_MAGIC}\nproject = \"wifi_prov_mgr\"\ntransport = \"ble\"\nargs = [\"--security\", \"2\"]\n");
        let app = VirtualApp::parse(ok.as_bytes()).unwrap();
        assert_eq!(app.capability(), Some(Capability::Ble));
        assert_eq!(app.args, ["--security", "2"]);
        let bad = format!("{APP_MAGIC}\nproject = \"x\"\ntransport = \"ble\"\nargs = [\"--mac=00:00:00:00:00:01\"]\n");
        assert!(VirtualApp::parse(bad.as_bytes())
            .unwrap_err()
            .contains("--mac"));
        assert!(VirtualApp::parse(&[0xFF; 16]).is_err());
        assert!(VirtualApp::parse(b"provlab-virtual-app/1\nproject = 1").is_err());
    }
}
