//! A firmware bundle: what `idf.py build` leaves for flashing, read from its `flasher_args.json` (the
//! file ESP-IDF's own CI ships to its runners): the images and their offsets (`flash_files`), the chip
//! (`extra_esptool_args.chip`), the flash settings, and the partition table among the images
//! ([`partition`]), from which the NVS range to erase comes.
//!
//! ```json
//! { "flash_files": { "0x0": "bootloader/bootloader.bin", "0x8000": "partition_table/partition-table.bin",
//!                    "0x10000": "wifi_prov_mgr.bin" },
//!   "partition-table": { "offset": "0x8000", "file": "partition_table/partition-table.bin" },
//!   "flash_settings": { "flash_mode": "dio", "flash_size": "4MB", "flash_freq": "80m" },
//!   "extra_esptool_args": { "chip": "esp32c3", "before": "default_reset", "after": "hard_reset" } }
//! ```
//!
//! Images are flashed exactly as written (as `idf.py flash` does), and a digest over offsets and image
//! hashes tells whether a board already has this bundle.

pub mod partition;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use self::partition::PartitionTable;

/// `flasher_args.json`, the parts the HIL uses.
#[derive(Debug, Deserialize)]
struct FlasherArgs {
    flash_files: BTreeMap<String, String>,
    #[serde(default, rename = "partition-table")]
    partition_table: Option<FlashFile>,
    #[serde(default)]
    flash_settings: Option<FlashSettings>,
    #[serde(default)]
    extra_esptool_args: Option<ExtraArgs>,
}

#[derive(Debug, Deserialize)]
struct FlashFile {
    offset: String,
}

#[derive(Debug, Deserialize)]
struct FlashSettings {
    #[serde(default)]
    flash_size: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ExtraArgs {
    #[serde(default)]
    chip: Option<String>,
}

/// One image and where it goes.
#[derive(Clone, Debug)]
pub struct Image {
    /// Flash offset.
    pub offset: u32,
    /// Where it came from.
    pub path: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
}

/// A loaded bundle.
#[derive(Clone, Debug)]
pub struct Bundle {
    /// The `flasher_args.json` it was read from.
    pub source: PathBuf,
    /// The chip it was built for, when `flasher_args.json` says.
    pub chip: Option<String>,
    /// Flash size from the flash settings (`4MB`), in bytes, when given.
    pub flash_size: Option<u32>,
    /// Images in offset order.
    pub images: Vec<Image>,
    /// The partition table among the images.
    pub table: PartitionTable,
    /// Where the partition table sits.
    pub table_offset: u32,
}

impl Bundle {
    /// Reads `flasher_args.json` at `path` and every image it names (paths relative to its directory).
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let args: FlasherArgs = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a flasher_args.json: {e}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut images = Vec::new();
        for (offset, file) in &args.flash_files {
            let at = parse_offset(offset).ok_or_else(|| {
                format!(
                    "{}: flash_files offset {offset:?} is not a number",
                    path.display()
                )
            })?;
            let p = dir.join(file);
            let bytes = std::fs::read(&p)
                .map_err(|e| format!("{}: image {file:?} at {offset}: {e}", path.display()))?;
            if bytes.is_empty() {
                return Err(format!(
                    "{}: image {file:?} at {offset} is empty",
                    path.display()
                ));
            }
            images.push(Image {
                offset: at,
                sha256: hex::encode(Sha256::digest(&bytes)),
                path: p,
                bytes,
            });
        }
        images.sort_by_key(|i| i.offset);
        if images.is_empty() {
            return Err(format!("{}: flash_files names no image", path.display()));
        }
        for pair in images.windows(2) {
            if pair[0].offset as usize + pair[0].bytes.len() > pair[1].offset as usize {
                return Err(format!(
                    "{}: images {} and {} overlap",
                    path.display(),
                    pair[0].path.display(),
                    pair[1].path.display()
                ));
            }
        }
        let table_offset = match &args.partition_table {
            Some(f) => parse_offset(&f.offset).ok_or_else(|| {
                format!(
                    "{}: partition-table offset {:?} is not a number",
                    path.display(),
                    f.offset
                )
            })?,
            None => partition::DEFAULT_OFFSET,
        };
        let table_image = images
            .iter()
            .find(|i| i.offset == table_offset)
            .ok_or_else(|| {
                format!(
                    "{}: no image at the partition table's offset {table_offset:#x}",
                    path.display()
                )
            })?;
        let table = PartitionTable::parse_bin(&table_image.bytes).map_err(|e| {
            format!(
                "{}: partition table {}: {e}",
                path.display(),
                table_image.path.display()
            )
        })?;
        let flash_size = args
            .flash_settings
            .and_then(|s| s.flash_size)
            .map(|s| parse_size(&s).ok_or_else(|| format!("{}: flash_size {s:?}", path.display())))
            .transpose()?;
        let bundle = Self {
            source: path.to_owned(),
            chip: args.extra_esptool_args.and_then(|e| e.chip),
            flash_size,
            images,
            table,
            table_offset,
        };
        bundle.check_fits()?;
        Ok(bundle)
    }

    /// Every image inside the flash, every partition inside the flash, and the NVS partition present.
    fn check_fits(&self) -> Result<(), String> {
        let src = self.source.display();
        self.table.nvs().map_err(|e| format!("{src}: {e}"))?;
        if let Some(size) = self.flash_size {
            for p in &self.table.partitions {
                if p.range().end > size {
                    return Err(format!(
                        "{src}: partition {p} ends past the {size:#x}-byte flash"
                    ));
                }
            }
            for i in &self.images {
                if i.offset as usize + i.bytes.len() > size as usize {
                    return Err(format!(
                        "{src}: image {} ends past the flash",
                        i.path.display()
                    ));
                }
            }
        }
        Ok(())
    }

    /// One hash over every offset and image: equal digests, equal flash contents.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for i in &self.images {
            h.update(i.offset.to_le_bytes());
            h.update(i.sha256.as_bytes());
        }
        hex::encode(h.finalize())
    }

    /// Total bytes of the images.
    pub fn len(&self) -> usize {
        self.images.iter().map(|i| i.bytes.len()).sum()
    }

    /// Whether the bundle has no image (never true for a loaded bundle).
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// The flash range of the NVS partition.
    pub fn nvs(&self) -> std::ops::Range<u32> {
        self.table.nvs().map(|p| p.range()).unwrap_or(0..0)
    }
}

/// `0x8000` or `32768`.
pub fn parse_offset(s: &str) -> Option<u32> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// `4MB`, `2MB`, `16MB` as esptool writes flash sizes.
fn parse_size(s: &str) -> Option<u32> {
    let mb: u32 = s.strip_suffix("MB")?.parse().ok()?;
    mb.checked_mul(1024 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bundle in a temporary directory, written from the documented formats.
    pub(crate) fn write_bundle(dir: &Path, chip: &str, app: &[u8]) -> PathBuf {
        let table = PartitionTable::parse_csv(
            "nvs, data, nvs, , 0x6000\nphy_init, data, phy, , 0x1000\nfactory, app, factory, , 1500K",
            partition::DEFAULT_OFFSET,
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("bootloader")).unwrap();
        std::fs::create_dir_all(dir.join("partition_table")).unwrap();
        std::fs::write(dir.join("bootloader/bootloader.bin"), [0xE9u8; 64]).unwrap();
        std::fs::write(
            dir.join("partition_table/partition-table.bin"),
            table.to_bin(),
        )
        .unwrap();
        std::fs::write(dir.join("app.bin"), app).unwrap();
        let json = format!(
            r#"{{
  "write_flash_args" : [ "--flash_mode", "dio", "--flash_size", "4MB", "--flash_freq", "80m" ],
  "flash_settings" : {{ "flash_mode": "dio", "flash_size": "4MB", "flash_freq": "80m" }},
  "flash_files" : {{ "0x0" : "bootloader/bootloader.bin", "0x8000" : "partition_table/partition-table.bin", "0x10000" : "app.bin" }},
  "bootloader" : {{ "offset" : "0x0", "file" : "bootloader/bootloader.bin", "encrypted" : "false" }},
  "app" : {{ "offset" : "0x10000", "file" : "app.bin", "encrypted" : "false" }},
  "partition-table" : {{ "offset" : "0x8000", "file" : "partition_table/partition-table.bin", "encrypted" : "false" }},
  "extra_esptool_args" : {{ "after" : "hard_reset", "before" : "default_reset", "stub" : true, "chip" : "{chip}" }}
}}"#
        );
        let p = dir.join("flasher_args.json");
        std::fs::write(&p, json).unwrap();
        p
    }

    #[test]
    fn reads_an_esp_idf_flasher_args_json() {
        let dir = std::env::temp_dir().join(format!("hil-bundle-{}", std::process::id()));
        let p = write_bundle(&dir, "esp32c3", b"app image");
        let b = Bundle::load(&p).unwrap();
        assert_eq!(b.chip.as_deref(), Some("esp32c3"));
        assert_eq!(b.flash_size, Some(4 << 20));
        let offsets: Vec<u32> = b.images.iter().map(|i| i.offset).collect();
        assert_eq!(offsets, [0x0, 0x8000, 0x10000]);
        assert_eq!(b.nvs(), 0x9000..0xF000);
        let d = b.digest();
        std::fs::write(dir.join("app.bin"), b"other app").unwrap();
        assert_ne!(
            Bundle::load(&p).unwrap().digest(),
            d,
            "a changed image changes the digest"
        );
        std::fs::write(dir.join("app.bin"), b"").unwrap();
        assert!(Bundle::load(&p).unwrap_err().contains("empty"));
        std::fs::remove_file(dir.join("app.bin")).unwrap();
        assert!(Bundle::load(&p).unwrap_err().contains("app.bin"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
