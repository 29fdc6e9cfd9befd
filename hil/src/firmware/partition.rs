//! ESP-IDF partition tables, binary (what `idf.py build` writes to `partition-table.bin` and the
//! bootloader reads at 0x8000) and CSV (`partitions.csv`, the source), as ESP-IDF documents them in
//! "Partition Tables" and `gen_esp32part.py`:
//!
//! - a binary table is a run of 32-byte entries: magic `AA 50`, type, subtype, offset (u32 LE), size
//!   (u32 LE), a 16-byte NUL-padded label, flags (u32 LE); then, by default, an MD5 entry (`EB EB`,
//!   14 × `FF`, the MD5 of every entry before it); then `FF` to the end (at most 0xC00 bytes);
//! - a CSV line is `name, type, subtype, offset, size, flags`; an empty offset is placed after the one
//!   before (data on 4 KiB, apps on 64 KiB boundaries), sizes take `K` and `M`.
//!
//! The HIL erases the `nvs` data partition it finds here between cases, never a hard-coded range.

use std::fmt;

use md5::{Digest, Md5};

/// Where ESP-IDF puts the table unless `CONFIG_PARTITION_TABLE_OFFSET` says otherwise.
pub const DEFAULT_OFFSET: u32 = 0x8000;
/// The table's longest binary form.
pub const MAX_LEN: usize = 0xC00;
const ENTRY: usize = 32;
const MAGIC: [u8; 2] = [0xAA, 0x50];
const MD5_MAGIC: [u8; 2] = [0xEB, 0xEB];

/// Partition type `app`.
pub const TYPE_APP: u8 = 0x00;
/// Partition type `data`.
pub const TYPE_DATA: u8 = 0x01;
/// Data subtype `nvs`: where provisioning keeps the Wi-Fi credentials.
pub const SUBTYPE_NVS: u8 = 0x02;
/// App subtype `factory`.
pub const SUBTYPE_FACTORY: u8 = 0x00;

/// One partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Its label, e.g. `nvs`.
    pub name: String,
    /// `app` (0) or `data` (1), or a custom type.
    pub kind: u8,
    /// Subtype, e.g. `nvs` (2) for data, `factory` (0) for apps.
    pub subtype: u8,
    /// Offset in flash.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
    /// Flags (bit 0: encrypted).
    pub flags: u32,
}

impl Partition {
    /// The flash range it covers.
    pub fn range(&self) -> std::ops::Range<u32> {
        self.offset..self.offset.saturating_add(self.size)
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (type {}, subtype {:#04x}) at {:#x}, {:#x} bytes",
            self.name,
            match self.kind {
                TYPE_APP => "app".to_owned(),
                TYPE_DATA => "data".to_owned(),
                k => format!("{k:#04x}"),
            },
            self.subtype,
            self.offset,
            self.size
        )
    }
}

/// A whole table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionTable {
    /// Partitions in table order.
    pub partitions: Vec<Partition>,
}

impl PartitionTable {
    /// Reads a binary table (`partition-table.bin`, or flash from the table's offset).
    pub fn parse_bin(bin: &[u8]) -> Result<Self, String> {
        let mut partitions = Vec::new();
        let mut at = 0;
        loop {
            let Some(e) = bin.get(at..at + ENTRY) else {
                return Err(format!(
                    "the table ends at byte {at} without its end marker (a run of 0xFF)"
                ));
            };
            if e.iter().all(|&b| b == 0xFF) {
                break;
            }
            if e[..2] == MD5_MAGIC {
                let want = &e[16..32];
                let got = Md5::digest(&bin[..at]);
                if want != got.as_slice() {
                    return Err(format!(
                        "the MD5 entry at byte {at} does not match the entries before it (a corrupt or \
                         hand-edited table)"
                    ));
                }
            } else if e[..2] == MAGIC {
                partitions.push(entry(e));
            } else {
                return Err(format!(
                    "entry {} (byte {at}) starts with {:02x} {:02x}, not the partition magic aa 50",
                    at / ENTRY,
                    e[0],
                    e[1]
                ));
            }
            at += ENTRY;
            if at >= MAX_LEN {
                return Err("the table runs past 0xC00 bytes without an end marker".into());
            }
        }
        if partitions.is_empty() {
            return Err("the table has no partition (erased flash?)".into());
        }
        Ok(Self { partitions })
    }

    /// Reads a CSV table, placing partitions without an offset after `table_offset`'s 4 KiB.
    pub fn parse_csv(csv: &str, table_offset: u32) -> Result<Self, String> {
        let mut next = table_offset + 0x1000;
        let mut partitions = Vec::new();
        for (n, raw) in csv.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let at = |what: &str| format!("line {}: {what}", n + 1);
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            if f.len() < 5 {
                return Err(at("expected name, type, subtype, offset, size[, flags]"));
            }
            let kind = match f[1] {
                "app" => TYPE_APP,
                "data" => TYPE_DATA,
                other => number(other)
                    .and_then(|v| u8::try_from(v).ok())
                    .ok_or_else(|| at(&format!("unknown type {other:?}")))?,
            };
            let subtype =
                subtype(kind, f[2]).ok_or_else(|| at(&format!("unknown subtype {:?}", f[2])))?;
            let align = if kind == TYPE_APP { 0x10000 } else { 0x1000 };
            let offset = match f[3] {
                "" => next.div_ceil(align) * align,
                o => number(o).ok_or_else(|| at(&format!("bad offset {o:?}")))?,
            };
            let size = number(f[4]).ok_or_else(|| at(&format!("bad size {:?}", f[4])))?;
            let flags = match f.get(5).copied().unwrap_or_default() {
                "" => 0,
                "encrypted" => 1,
                other => return Err(at(&format!("unknown flags {other:?}"))),
            };
            if f[0].is_empty() || f[0].len() > 16 {
                return Err(at("a name is 1 to 16 characters"));
            }
            next = offset.saturating_add(size);
            partitions.push(Partition {
                name: f[0].to_owned(),
                kind,
                subtype,
                offset,
                size,
                flags,
            });
        }
        if partitions.is_empty() {
            return Err("the CSV lists no partition".into());
        }
        Ok(Self { partitions })
    }

    /// The binary form, with the MD5 entry, padded with `FF` to [`MAX_LEN`].
    pub fn to_bin(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_LEN);
        for p in &self.partitions {
            out.extend_from_slice(&MAGIC);
            out.extend_from_slice(&[p.kind, p.subtype]);
            out.extend_from_slice(&p.offset.to_le_bytes());
            out.extend_from_slice(&p.size.to_le_bytes());
            let mut label = [0u8; 16];
            for (d, s) in label.iter_mut().zip(p.name.bytes()) {
                *d = s;
            }
            out.extend_from_slice(&label);
            out.extend_from_slice(&p.flags.to_le_bytes());
        }
        let digest = Md5::digest(&out);
        out.extend_from_slice(&MD5_MAGIC);
        out.extend_from_slice(&[0xFF; 14]);
        out.extend_from_slice(&digest);
        out.resize(MAX_LEN, 0xFF);
        out
    }

    /// The first partition of `kind`/`subtype`.
    pub fn find(&self, kind: u8, subtype: u8) -> Option<&Partition> {
        self.partitions
            .iter()
            .find(|p| p.kind == kind && p.subtype == subtype)
    }

    /// The NVS partition: what erasing forgets the provisioned credentials.
    pub fn nvs(&self) -> Result<&Partition, String> {
        self.find(TYPE_DATA, SUBTYPE_NVS).ok_or_else(|| {
            "the partition table has no nvs data partition, so provisioning state cannot be erased".into()
        })
    }

    /// The app the bootloader starts without OTA data: `factory`, else the first app.
    pub fn boot_app(&self) -> Option<&Partition> {
        self.find(TYPE_APP, SUBTYPE_FACTORY)
            .or_else(|| self.partitions.iter().find(|p| p.kind == TYPE_APP))
    }
}

fn entry(e: &[u8]) -> Partition {
    let u32_at = |i: usize| u32::from_le_bytes([e[i], e[i + 1], e[i + 2], e[i + 3]]);
    let label = &e[12..28];
    let end = label.iter().position(|&b| b == 0).unwrap_or(label.len());
    Partition {
        name: String::from_utf8_lossy(&label[..end]).into_owned(),
        kind: e[2],
        subtype: e[3],
        offset: u32_at(4),
        size: u32_at(8),
        flags: u32_at(28),
    }
}

/// `0x6000`, `24K`, `1M`, `4096`.
fn number(s: &str) -> Option<u32> {
    let s = s.trim();
    let (digits, scale) = match s.chars().last()? {
        'K' | 'k' => (&s[..s.len() - 1], 1024),
        'M' | 'm' => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    let v = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => digits.parse().ok()?,
    };
    v.checked_mul(scale)
}

/// Subtype names from ESP-IDF's documentation, or a number.
fn subtype(kind: u8, s: &str) -> Option<u8> {
    let named = match (kind, s) {
        (TYPE_APP, "factory") => Some(SUBTYPE_FACTORY),
        (TYPE_APP, "test") => Some(0x20),
        (TYPE_APP, ota) if ota.starts_with("ota_") => ota[4..]
            .parse::<u8>()
            .ok()
            .filter(|n| *n < 16)
            .map(|n| 0x10 + n),
        (TYPE_DATA, "ota") => Some(0x00),
        (TYPE_DATA, "phy") => Some(0x01),
        (TYPE_DATA, "nvs") => Some(SUBTYPE_NVS),
        (TYPE_DATA, "coredump") => Some(0x03),
        (TYPE_DATA, "nvs_keys") => Some(0x04),
        (TYPE_DATA, "efuse") => Some(0x05),
        (TYPE_DATA, "undefined") => Some(0x06),
        (TYPE_DATA, "fat") => Some(0x81),
        (TYPE_DATA, "spiffs") => Some(0x82),
        (TYPE_DATA, "littlefs") => Some(0x83),
        _ => None,
    };
    named.or_else(|| number(s).and_then(|v| u8::try_from(v).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of ESP-IDF's `wifi_prov_mgr` example (its `partitions.csv`).
    const PROV_MGR: &str = "\
# Name,   Type, SubType, Offset,  Size, Flags
# Note: if you have increased the bootloader size, make sure to update the offsets to avoid overlap
nvs,      data, nvs,     ,        0x6000,
phy_init, data, phy,     ,        0x1000,
factory,  app,  factory, ,        1500K,
";

    #[test]
    fn csv_places_partitions_as_esp_idf_does() {
        let t = PartitionTable::parse_csv(PROV_MGR, DEFAULT_OFFSET).unwrap();
        let nvs = t.nvs().unwrap();
        assert_eq!((nvs.offset, nvs.size), (0x9000, 0x6000));
        assert_eq!(t.partitions[1].offset, 0xF000);
        let app = t.boot_app().unwrap();
        assert_eq!(
            (app.name.as_str(), app.offset, app.size),
            ("factory", 0x10000, 1500 * 1024)
        );
    }

    /// A binary table written byte by byte from the documented layout, not by `to_bin`.
    fn documented_bin() -> Vec<u8> {
        let mut b = Vec::new();
        for (kind, sub, off, size, name) in [
            (1u8, 2u8, 0x9000u32, 0x6000u32, "nvs"),
            (1, 1, 0xF000, 0x1000, "phy_init"),
            (0, 0, 0x10000, 0x177000, "factory"),
        ] {
            b.extend_from_slice(&[0xAA, 0x50, kind, sub]);
            b.extend_from_slice(&off.to_le_bytes());
            b.extend_from_slice(&size.to_le_bytes());
            let mut label = name.as_bytes().to_vec();
            label.resize(16, 0);
            b.extend_from_slice(&label);
            b.extend_from_slice(&0u32.to_le_bytes());
        }
        let md5 = Md5::digest(&b);
        b.extend_from_slice(&[0xEB, 0xEB]);
        b.extend_from_slice(&[0xFF; 14]);
        b.extend_from_slice(&md5);
        b.resize(0xC00, 0xFF);
        b
    }

    #[test]
    fn binary_table_from_the_documented_format() {
        let bin = documented_bin();
        let t = PartitionTable::parse_bin(&bin).unwrap();
        assert_eq!(t.nvs().unwrap().range(), 0x9000..0xF000);
        assert_eq!(t.boot_app().unwrap().offset, 0x10000);
        // The CSV and the binary agree, and our writer produces exactly the documented bytes.
        assert_eq!(
            t,
            PartitionTable::parse_csv(PROV_MGR, DEFAULT_OFFSET).unwrap()
        );
        assert_eq!(t.to_bin(), bin);
    }

    #[test]
    fn corrupt_tables_are_named() {
        let mut bin = documented_bin();
        bin[40] ^= 1;
        assert!(PartitionTable::parse_bin(&bin).unwrap_err().contains("MD5"));
        assert!(PartitionTable::parse_bin(&[0xFF; 0xC00])
            .unwrap_err()
            .contains("no partition"));
        let mut bad = documented_bin();
        bad[32] = 0x12;
        assert!(PartitionTable::parse_bin(&bad)
            .unwrap_err()
            .contains("entry 1"));
        assert!(PartitionTable::parse_bin(&bin[..40]).is_err());
        let no_nvs =
            PartitionTable::parse_csv("factory, app, factory, 0x10000, 1M", 0x8000).unwrap();
        assert!(no_nvs.nvs().unwrap_err().contains("no nvs"));
        assert!(
            PartitionTable::parse_csv("nvs, data, bogus, , 0x6000", 0x8000)
                .unwrap_err()
                .contains("line 1")
        );
    }

    #[test]
    fn the_example_rack_table_matches_its_csv_and_the_documented_bytes() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/firmware/partition_table"
        );
        let csv = std::fs::read_to_string(format!("{dir}/partitions.csv")).unwrap();
        let bin = std::fs::read(format!("{dir}/partition-table.bin")).unwrap();
        assert_eq!(
            PartitionTable::parse_csv(&csv, DEFAULT_OFFSET).unwrap(),
            PartitionTable::parse_bin(&bin).unwrap()
        );
        assert_eq!(bin, documented_bin());
    }
}
