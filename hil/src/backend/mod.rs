//! What the HIL does to a board, behind three small traits so the lifecycle is the same for a chip on
//! a probe and for a virtual board:
//!
//! - [`BoardControl`]: flash, erase, reset — [`probe`] (probe-rs 0.32 + probe-rs-espressif, for boards
//!   with JTAG), [`serial_flash`] (espflash through the ROM loader, for boards behind a UART bridge),
//!   or a virtual board's chip;
//! - [`ConsolePort`]: the console device, opened by path — [`serial::SerialConsole`] (the `serialport`
//!   crate) for boards and virtual boards alike (a virtual board's console is a pseudo-terminal);
//! - [`Power`]: re-enumerating the USB device and switching power, the recovery steps — [`power`]
//!   (sysfs, uhubctl, a command) or a virtual board's process.

pub mod power;
pub mod probe;
pub mod serial;
pub mod serial_flash;

use std::io::{Read, Write};
use std::ops::Range;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::firmware::Bundle;

/// What flashing did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlashReport {
    /// Bytes written (0 when the board already had the bundle).
    pub written: usize,
    /// The board already had the bundle.
    pub unchanged: bool,
    /// How long it took.
    pub took: Duration,
}

/// What a board was last flashed with (the bundle's digest, in a file of the work dir), so that an
/// unchanged bundle is not written again: a full flash over USB-JTAG takes 20–60 s.
#[derive(Clone, Debug)]
pub struct FlashRecord(pub PathBuf);

impl FlashRecord {
    /// Writes `bundle` through `write` unless the record says the board already has it.
    pub fn flash(
        &self,
        bundle: &Bundle,
        write: impl FnOnce() -> Result<(), String>,
    ) -> Result<FlashReport, String> {
        let started = Instant::now();
        let digest = bundle.digest();
        if std::fs::read_to_string(&self.0).is_ok_and(|r| r.trim() == digest) {
            return Ok(FlashReport {
                written: 0,
                unchanged: true,
                took: started.elapsed(),
            });
        }
        // A flash that fails half-way leaves the board with neither bundle.
        let _ = std::fs::remove_file(&self.0);
        write()?;
        std::fs::write(&self.0, &digest)
            .map_err(|e| format!("flash record {}: {e}", self.0.display()))?;
        Ok(FlashReport {
            written: bundle.len(),
            unchanged: false,
            took: started.elapsed(),
        })
    }
}

/// Flash, erase and reset: what a debug probe (or the ROM loader over a UART) does to a board.
pub trait BoardControl: Send {
    /// What it is, for logs: `probe-rs 303a:1001:F4:…`, `espflash /dev/serial/by-id/…`, `virtual`.
    fn describe(&self) -> String;
    /// Checks the board is there and can be reached (its probe listed and accessible).
    fn present(&mut self) -> Result<(), String>;
    /// Writes the bundle's images as `idf.py flash` would, unless the board already has them.
    fn flash(&mut self, bundle: &Bundle) -> Result<FlashReport, String>;
    /// Erases a flash range (the NVS partition, to forget provisioning).
    fn erase(&mut self, range: Range<u32>) -> Result<(), String>;
    /// Resets the chip so that it boots its application.
    fn reset(&mut self) -> Result<(), String>;
    /// Whether flash, erase and reset go through the console's port (espflash), so the console must
    /// let go of it meanwhile.
    fn uses_console_port(&self) -> bool {
        false
    }
}

/// The console device.
pub trait ConsolePort: Send + Sync {
    /// What it is, for logs.
    fn describe(&self) -> String;
    /// Opens it: a reader (which may time out while idle) and a writer.
    #[allow(clippy::type_complexity)]
    fn open(&self) -> Result<(Box<dyn Read + Send>, Box<dyn Write + Send>), String>;
}

/// Recovery: the USB link and power.
pub trait Power: Send {
    /// What it is, for logs.
    fn describe(&self) -> String;
    /// Makes the board's USB device enumerate again (a wedged USB-Serial-JTAG recovers so).
    fn usb_reset(&mut self) -> Result<(), String>;
    /// Switches the board off for `off`, then on.
    fn cycle(&mut self, off: Duration) -> Result<(), String>;
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn an_unchanged_bundle_is_not_written_again_and_a_failed_flash_forgets_the_old_one() {
        let dir = std::env::temp_dir().join(format!("provlab-flash-record-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let record = FlashRecord(dir.join("flashed"));
        let _ = std::fs::remove_file(&record.0);
        let bundle = Bundle::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/firmware/prov-softap-sec2/flasher_args.json"
        )))
        .unwrap();
        let mut writes = 0;
        let first = record.flash(&bundle, || {
            writes += 1;
            Ok(())
        });
        assert_eq!(first.unwrap().written, bundle.len());
        let again = record.flash(&bundle, || {
            writes += 1;
            Ok(())
        });
        assert!(again.unwrap().unchanged);
        assert_eq!(writes, 1);
        let failed = record.flash(
            &Bundle {
                images: Vec::new(),
                ..bundle.clone()
            },
            || Err("the probe went away".into()),
        );
        assert_eq!(failed.unwrap_err(), "the probe went away");
        assert!(!record.0.exists(), "a failed flash leaves no record");
        let _ = std::fs::remove_dir_all(dir);
    }
}
