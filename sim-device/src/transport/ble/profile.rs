//! The BLE stack profiles' rules, as pure functions (no D-Bus): characteristic UUIDs (spec §4.2.1), write
//! validation and value limits (spec §4.2.3), long reads by offset, and what fits in the advertisement.
//!
//! Error mapping. A BlueZ peripheral answers a GATT request with a D-Bus error from bluer's `ReqError`, and
//! bluetoothd turns it into the ATT error code (`dbus_error_to_att_ecode` in BlueZ's gatt-database.c):
//!
//! | ESP-IDF (spec §4.2.3)                       | here (`ReqError`)      | ATT code a central sees |
//! |---------------------------------------------|------------------------|-------------------------|
//! | `0x0D` Invalid Attribute Value Length       | `InvalidValueLength`   | `0x0D` (same)           |
//! | `0x07` Invalid Offset                       | `InvalidOffset`        | `0x07` (same)           |
//! | Bluedroid protocomm error `0x85`            | `Failed`               | `0x80` (application error) |
//! | NimBLE protocomm error `0x04` Invalid PDU   | `Failed`               | `0x80`                  |
//!
//! bluer sends its own fixed text with `org.bluez.Error.Failed`, so the "error code in the message" form
//! newer bluetoothd understands (0x80–0x9F) cannot be used, and nothing an application can return becomes
//! `0x04`. A central therefore tells the stacks apart by what follows the error (Bluedroid drops the link),
//! not by the code. The "characteristic not mapped to an endpoint" row cannot happen: only mapped
//! characteristics are registered.

use bluer::gatt::local::ReqError;
use bluer::Uuid;

/// The lowest ATT MTU (Bluetooth Core: `ATT_MTU` for LE is at least 23).
pub const ATT_MIN_MTU: u16 = 23;

/// Which ESP-IDF BLE host a device runs: it decides how a failed request looks (spec §4.2.3, §4.4). The
/// simulator models it; the conformance suite expects it (device files name it in lowercase).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BleStack {
    /// protocomm_ble on Bluedroid: empty writes refused, link dropped after a protocomm error, MTU 500.
    #[default]
    Bluedroid,
    /// protocomm_nimble on NimBLE: empty writes ignored, link kept after errors, MTU 256.
    Nimble,
}

impl BleStack {
    /// The stack's local MTU: Bluedroid sets 500; NimBLE's Kconfig default preferred MTU is 256.
    pub fn default_mtu(self) -> u16 {
        match self {
            Self::Bluedroid => 500,
            Self::Nimble => 256,
        }
    }

    /// Largest characteristic value (write or response): Bluedroid's protocomm buffer is 481 bytes when
    /// Security 2 support is compiled in (257 otherwise); NimBLE's attribute limit is 512.
    pub fn max_value_len(self, sec2_compiled_in: bool) -> usize {
        match (self, sec2_compiled_in) {
            (Self::Bluedroid, true) => 481,
            (Self::Bluedroid, false) => 257,
            (Self::Nimble, _) => 512,
        }
    }

    /// Whether a protocomm error also ends the link (Bluedroid does; NimBLE keeps it).
    pub fn disconnects_on_error(self) -> bool {
        self == Self::Bluedroid
    }

    /// Name on command lines, in device files, logs and banners.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bluedroid => "bluedroid",
            Self::Nimble => "nimble",
        }
    }
}

impl std::str::FromStr for BleStack {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "bluedroid" => Ok(Self::Bluedroid),
            "nimble" => Ok(Self::Nimble),
            other => Err(format!(
                "unknown BLE stack {other:?}; expected bluedroid or nimble"
            )),
        }
    }
}

/// The characteristic UUID of endpoint `ble_id` under `service`: bytes 12–13 of the little-endian array
/// (hex digits 5–8 of the string form) replaced by the id (spec §4.2.1).
pub fn characteristic_uuid(service: Uuid, ble_id: u16) -> Uuid {
    let mask: u128 = 0xFFFF << 96;
    Uuid::from_u128((service.as_u128() & !mask) | (u128::from(ble_id) << 96))
}

/// The Characteristic User Description descriptor (0x2901) in 128-bit form.
pub fn user_description_uuid() -> Uuid {
    Uuid::from_u128(0x0000_2901_0000_1000_8000_0080_5f9b_34fb)
}

/// What to do with a write, before protocomm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteCheck {
    /// Run protocomm on it.
    Process,
    /// Acknowledge it without calling protocomm (NimBLE, empty write).
    AcceptIgnored,
    /// Refuse it with this error.
    Reject(ReqError),
}

/// The stack's write validation (spec §4.2.3 table). `offset` is the write's start offset: bluetoothd
/// assembles prepared (long) writes into one write at offset 0, so a non-zero offset is a partial write
/// protocomm cannot place, refused as `Invalid Offset`.
pub fn check_write(stack: BleStack, max: usize, len: usize, offset: u16) -> WriteCheck {
    if offset != 0 {
        return WriteCheck::Reject(ReqError::InvalidOffset);
    }
    if len == 0 {
        return match stack {
            BleStack::Bluedroid => WriteCheck::Reject(ReqError::InvalidValueLength),
            BleStack::Nimble => WriteCheck::AcceptIgnored,
        };
    }
    if len > max {
        return WriteCheck::Reject(ReqError::InvalidValueLength);
    }
    WriteCheck::Process
}

/// One read of a stored value: at most `MTU − 1` bytes from `offset`, where the MTU is the smaller of the
/// device's (`local_mtu`) and the link's (`link_mtu`, what bluetoothd reports). A read at exactly the end
/// returns nothing (a client whose last blob filled `MTU − 1` asks once more); beyond the end is
/// `Invalid Offset`.
pub fn read_slice(
    value: &[u8],
    offset: u16,
    local_mtu: u16,
    link_mtu: u16,
) -> Result<Vec<u8>, ReqError> {
    let offset = usize::from(offset);
    let Some(rest) = value.get(offset..) else {
        return Err(ReqError::InvalidOffset);
    };
    let mtu = local_mtu.min(link_mtu).max(ATT_MIN_MTU);
    let chunk = usize::from(mtu - 1);
    Ok(rest.get(..chunk).unwrap_or(rest).to_vec())
}

/// A descriptor read (0x2901): the whole remaining value from `offset`; bluetoothd caps it to the MTU.
pub fn read_from(value: &[u8], offset: u16) -> Result<Vec<u8>, ReqError> {
    value
        .get(usize::from(offset)..)
        .map(<[u8]>::to_vec)
        .ok_or(ReqError::InvalidOffset)
}

/// Longest Complete Local Name the stacks put in the scan response.
pub const MAX_ADV_NAME: usize = 29;

/// The advertised name: the service name, shortened to 29 bytes (at a character boundary) if longer.
pub fn advertised_name(name: &str) -> &str {
    let mut end = name.len().min(MAX_ADV_NAME);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Manufacturer data as `protocomm_ble` fits it next to the name in the 31-byte scan response: dropped
/// when `name_len + 2 >= 29`, else cut to `29 − (name_len + 2)` bytes. The bytes start with the 16-bit
/// company id (little-endian), as in the advertising field; fewer than 2 bytes left → dropped.
pub fn fit_manufacturer_data(name_len: usize, data: &[u8]) -> Option<(u16, Vec<u8>)> {
    if name_len + 2 >= MAX_ADV_NAME {
        return None;
    }
    let room = MAX_ADV_NAME - (name_len + 2);
    let data = data.get(..room).unwrap_or(data);
    match data {
        [lo, hi, rest @ ..] => Some((u16::from_le_bytes([*lo, *hi]), rest.to_vec())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uuid(s: &str) -> Uuid {
        s.parse().expect("uuid")
    }

    #[test]
    fn characteristic_uuids_follow_the_spec_examples() {
        let example = uuid("021a9004-0382-4aea-bff4-6b3f1c5adfb4");
        assert_eq!(
            characteristic_uuid(example, 0xFF51),
            uuid("021aff51-0382-4aea-bff4-6b3f1c5adfb4")
        );
        assert_eq!(
            characteristic_uuid(example, 0xFF53),
            uuid("021aff53-0382-4aea-bff4-6b3f1c5adfb4")
        );
        assert_eq!(
            characteristic_uuid(example, 0xFF4F),
            uuid("021aff4f-0382-4aea-bff4-6b3f1c5adfb4")
        );
        let manager = uuid("1775244d-6b43-439b-877c-060f2d9bed07");
        assert_eq!(
            characteristic_uuid(manager, 0xFF51),
            uuid("1775ff51-6b43-439b-877c-060f2d9bed07")
        );
        // Bytes 12 and 13 of the little-endian array carry the id, low byte first.
        let mut le = characteristic_uuid(example, 0xFF51).as_bytes().to_owned();
        le.reverse();
        assert_eq!(&le[12..14], &[0x51, 0xFF]);
        assert_eq!(
            user_description_uuid(),
            uuid("00002901-0000-1000-8000-00805f9b34fb")
        );
    }

    #[test]
    fn write_validation_per_stack() {
        use BleStack::{Bluedroid, Nimble};
        let bd = Bluedroid.max_value_len(true);
        assert_eq!((bd, Bluedroid.max_value_len(false)), (481, 257));
        assert_eq!(Nimble.max_value_len(true), 512);
        let invalid_len = WriteCheck::Reject(ReqError::InvalidValueLength);
        assert_eq!(check_write(Bluedroid, bd, 0, 0), invalid_len);
        assert_eq!(check_write(Nimble, 512, 0, 0), WriteCheck::AcceptIgnored);
        assert_eq!(check_write(Bluedroid, bd, 481, 0), WriteCheck::Process);
        assert_eq!(check_write(Bluedroid, bd, 482, 0), invalid_len);
        assert_eq!(check_write(Nimble, 512, 512, 0), WriteCheck::Process);
        assert_eq!(check_write(Nimble, 512, 513, 0), invalid_len);
        assert_eq!(
            check_write(Nimble, 512, 5, 3),
            WriteCheck::Reject(ReqError::InvalidOffset)
        );
        assert!(Bluedroid.disconnects_on_error() && !Nimble.disconnects_on_error());
        assert_eq!((Bluedroid.default_mtu(), Nimble.default_mtu()), (500, 256));
    }

    #[test]
    fn long_reads_are_offset_reads() {
        let value: Vec<u8> = (0..=99).collect();
        // MTU 23: 22 bytes per read, the central walks the offsets.
        let mut got = Vec::new();
        loop {
            let offset = u16::try_from(got.len()).expect("small");
            let part = read_slice(&value, offset, 500, 23).expect("in range");
            got.extend_from_slice(&part);
            if part.len() < 22 {
                break;
            }
        }
        assert_eq!(got, value);
        // The device's own MTU caps too; a bogus link MTU below 23 is treated as 23.
        assert_eq!(read_slice(&value, 0, 23, 517).map(|v| v.len()), Ok(22));
        assert_eq!(read_slice(&value, 0, 500, 0).map(|v| v.len()), Ok(22));
        assert_eq!(read_slice(&value, 0, 500, 517), Ok(value.clone()));
        assert_eq!(read_slice(&value, 90, 500, 517), Ok(value[90..].to_vec()));
        assert_eq!(read_slice(&value, 100, 500, 23), Ok(Vec::new()));
        assert_eq!(
            read_slice(&value, 101, 500, 23),
            Err(ReqError::InvalidOffset)
        );
        assert_eq!(read_slice(&[], 0, 500, 23), Ok(Vec::new()));
        assert_eq!(read_from(b"proto-ver", 6), Ok(b"ver".to_vec()));
        assert_eq!(read_from(b"proto-ver", 10), Err(ReqError::InvalidOffset));
    }

    #[test]
    fn advertisement_fits_31_bytes() {
        assert_eq!(advertised_name("PROV_A1B2C3"), "PROV_A1B2C3");
        let long = "x".repeat(32);
        assert_eq!(advertised_name(&long).len(), 29);
        assert_eq!(advertised_name(&"é".repeat(16)).len(), 28);
        // 11-byte name: 29 - 13 = 16 bytes of manufacturer data at most.
        let data: Vec<u8> = (0..20).collect();
        let (company, rest) = fit_manufacturer_data(11, &data).expect("fits");
        assert_eq!(company, 0x0100);
        assert_eq!(rest, (2..16).collect::<Vec<u8>>());
        assert_eq!(fit_manufacturer_data(27, &data), None);
        assert_eq!(fit_manufacturer_data(26, &data), None);
        assert_eq!(fit_manufacturer_data(5, &[0xE5]), None);
        assert_eq!(
            fit_manufacturer_data(5, &[0xE5, 0x02]),
            Some((0x02E5, vec![]))
        );
    }
}
