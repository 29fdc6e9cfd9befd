//! What a virtual chip does between reset and its application, and prints while doing it, as ESP-IDF's
//! ROM and second-stage bootloader do: the ROM banner; the bootloader's check of its own image (erased
//! flash: the ROM's `invalid header: 0xffffffff`); the partition table, listed; the boot partition's
//! image, loaded or refused. The application it finds is returned.

use std::ops::Range;

use sim_device::runtime::uart::rom::{self, Chip, ResetReason};

use super::app::{VirtualApp, BOOTLOADER_MAGIC};
use super::flash::VirtualFlash;
use crate::firmware::partition::{self, PartitionTable, TYPE_APP, TYPE_DATA};

/// What booting found.
pub struct Booted {
    /// The application to start.
    pub app: VirtualApp,
    /// The NVS partition's range.
    pub nvs: Range<u32>,
}

/// Runs the ROM and the bootloader: everything they print goes to `out`; `Err` when the chip stops
/// before an application (the text says why, and was printed too).
pub fn boot(
    chip: Chip,
    reason: ResetReason,
    flash: &mut VirtualFlash,
    out: &mut String,
) -> Result<Booted, String> {
    out.push_str(&rom::banner(chip, reason));
    let boot_at = chip.bootloader_offset();
    let head = flash.read(boot_at..boot_at + BOOTLOADER_MAGIC.len() as u32)?;
    if head != BOOTLOADER_MAGIC.as_bytes() {
        let word = flash.read(boot_at..boot_at + 4)?;
        let word = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        // The ROM prints this and retries forever; three lines say it.
        for _ in 0..3 {
            out.push_str(&format!("invalid header: {word:#010x}\r\n"));
        }
        return Err(format!(
            "no bootloader at {boot_at:#x} (flash erased or not a virtual bundle)"
        ));
    }
    let mut ms = 27;
    let mut line = |level: char, text: &str| {
        out.push_str(&format!("{level} ({ms}) boot: {text}\r\n"));
        ms += 5;
    };
    line(
        'I',
        "ESP-IDF v5.5.5 2nd stage bootloader (provlab virtual chip)",
    );
    let table_at = partition::DEFAULT_OFFSET;
    let table = match flash
        .read(table_at..table_at + partition::MAX_LEN as u32)
        .and_then(|b| PartitionTable::parse_bin(&b))
    {
        Ok(t) => t,
        Err(e) => {
            line('E', &format!("Failed to verify partition table: {e}"));
            line('E', "load partition table error!");
            return Err(format!("no valid partition table at {table_at:#x}: {e}"));
        }
    };
    line('I', "Partition Table:");
    line(
        'I',
        "## Label            Usage          Type ST Offset   Length",
    );
    for (i, p) in table.partitions.iter().enumerate() {
        let usage = match (p.kind, p.subtype) {
            (TYPE_DATA, partition::SUBTYPE_NVS) => "WiFi data",
            (TYPE_DATA, 0x01) => "RF data",
            (TYPE_APP, partition::SUBTYPE_FACTORY) => "factory app",
            (TYPE_APP, _) => "OTA app",
            _ => "Unknown data",
        };
        line(
            'I',
            &format!(
                "{i:2} {:<16} {usage:<14} {:02x} {:02x} {:08x} {:08x}",
                p.name, p.kind, p.subtype, p.offset, p.size
            ),
        );
    }
    line('I', "End of partition table");
    let Some(part) = table.boot_app().cloned() else {
        line('E', "No bootable app partitions in the partition table");
        return Err("the partition table has no app partition".into());
    };
    let image = flash.image(part.range())?;
    let app = match VirtualApp::parse(&image) {
        Ok(app) => app,
        Err(e) => {
            line(
                'E',
                &format!(
                    "image at {:#x} has invalid magic byte (nothing flashed here?)",
                    part.offset
                ),
            );
            line('E', "No bootable app partitions in the partition table");
            return Err(format!(
                "the {} partition holds no application: {e}",
                part.name
            ));
        }
    };
    line(
        'I',
        &format!("Loaded app from partition at offset {:#x}", part.offset),
    );
    line('I', "Disabling RNG early entropy source...");
    let nvs = table.nvs().map(|p| p.range()).unwrap_or(0..0);
    Ok(Booted { app, nvs })
}
