//! The `--ble-*` command-line flags of `sim-device` (clap), and how they become [`BleOptions`].

use bluer::Uuid;

use super::{BleOptions, BleStack, EXAMPLE_SERVICE_UUID};

/// BLE transport flags (flattened into the binary's arguments).
#[derive(Clone, Debug, clap::Args)]
pub struct BleArgs {
    /// BLE: adapter to serve on (default: BlueZ's default adapter, hci0 if present).
    #[arg(long, value_name = "NAME")]
    pub ble_adapter: Option<String>,
    /// BLE: primary service UUID (default: the ESP-IDF example's; the provisioning manager's own default
    /// is 1775244d-6b43-439b-877c-060f2d9bed07).
    #[arg(long, value_name = "UUID", default_value_t = EXAMPLE_SERVICE_UUID)]
    pub ble_service_uuid: Uuid,
    /// BLE: host stack whose behaviour to reproduce (write validation, errors, default MTU).
    #[arg(long, value_enum, default_value = "bluedroid")]
    pub ble_stack: BleStack,
    /// BLE: the device's local ATT MTU (default: 500 Bluedroid, 256 NimBLE). Reads return at most
    /// min(this, link MTU) - 1 bytes from the requested offset.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u16).range(23..=517))]
    pub ble_mtu: Option<u16>,
    /// BLE: manufacturer-specific data in hex, company id first (little-endian); cut to fit the scan
    /// response next to the name, as ESP-IDF does.
    #[arg(long, value_name = "HEX")]
    pub ble_manufacturer_data: Option<String>,
    /// BLE: model firmware built without Security 2 support (Bluedroid value limit 257 instead of 481).
    #[arg(long)]
    pub ble_without_sec2: bool,
}

impl BleArgs {
    /// The transport options for service name `name` on a device running Security `security`.
    pub fn options(&self, name: &str, security: u32) -> Result<BleOptions, String> {
        if self.ble_without_sec2 && security == 2 {
            return Err(
                "--ble-without-sec2 models firmware without Security 2: use --security 0 or 1"
                    .into(),
            );
        }
        let manufacturer_data = match &self.ble_manufacturer_data {
            Some(h) => Some(hex::decode(h).map_err(|e| format!("--ble-manufacturer-data: {e}"))?),
            None => None,
        };
        Ok(BleOptions {
            adapter: self.ble_adapter.clone(),
            service_uuid: self.ble_service_uuid,
            stack: self.ble_stack,
            mtu: self.ble_mtu,
            manufacturer_data,
            sec2_compiled_in: !self.ble_without_sec2,
            ..BleOptions::new(name)
        })
    }
}
