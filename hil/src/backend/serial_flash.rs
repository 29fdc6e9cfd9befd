//! Boards without JTAG (a classic ESP32 DevKit behind its USB-UART bridge), flashed, erased and reset
//! through the chip's ROM loader over the console's own port, with espflash (the flasher the esp-rs
//! project keeps; its `serialport` feature needs no libudev). The console must let go of the port
//! meanwhile ([`BoardControl::uses_console_port`]).
//!
//! The bridge's DTR/RTS lines drive EN and GPIO0 (the auto-reset circuit): espflash's reset strategy
//! enters the ROM loader, its hard reset (RTS pulse) boots the application.

use std::borrow::Cow;
use std::ops::Range;
use std::path::PathBuf;

use espflash::connection::{Connection, ResetAfterOperation, ResetBeforeOperation};
use espflash::flasher::Flasher;
use espflash::image_format::Segment;
use espflash::target::{Chip, DefaultProgressCallback};
use serialport::{SerialPortType, UsbPortInfo};

use super::{BoardControl, FlashRecord, FlashReport};
use crate::firmware::Bundle;

/// The ROM loader's baud rate; flashing stays at it (espflash may raise it after connecting).
const ROM_BAUD: u32 = 115_200;

/// A board flashed over its UART.
pub struct SerialFlash {
    port: PathBuf,
    chip: String,
    record: FlashRecord,
}

impl SerialFlash {
    /// The board whose console is `port` (a `/dev/serial/by-id/…` path), a `chip`; `record` remembers
    /// what was flashed.
    pub fn new(port: PathBuf, chip: &str, record: PathBuf) -> Self {
        Self {
            port,
            chip: chip.to_owned(),
            record: FlashRecord(record),
        }
    }

    /// The port's USB identity, which espflash's reset strategies depend on.
    fn usb_info(&self) -> Result<(String, UsbPortInfo), String> {
        let real = std::fs::canonicalize(&self.port)
            .map_err(|e| format!("{}: {e} (unplugged?)", self.port.display()))?;
        let name = real.to_string_lossy().into_owned();
        let ports =
            serialport::available_ports().map_err(|e| format!("listing serial ports: {e}"))?;
        ports
            .into_iter()
            .find(|p| p.port_name == name)
            .and_then(|p| match p.port_type {
                SerialPortType::UsbPort(info) => Some((name.clone(), info)),
                _ => None,
            })
            .ok_or_else(|| {
                format!(
                    "{}: not a USB serial port this host lists",
                    self.port.display()
                )
            })
    }

    /// A connection on the port (not yet talking to the ROM loader).
    fn connection(&self) -> Result<Connection, String> {
        let (name, info) = self.usb_info()?;
        let port = serialport::new(&name, ROM_BAUD)
            .open_native()
            .map_err(|e| format!("{name}: {e}"))?;
        Ok(Connection::new(
            port,
            info,
            ResetAfterOperation::HardReset,
            ResetBeforeOperation::DefaultReset,
            ROM_BAUD,
        ))
    }

    fn connect(&self) -> Result<Flasher, String> {
        let chip: Chip = self
            .chip
            .parse()
            .map_err(|_| format!("espflash does not know the chip {}", self.chip))?;
        Flasher::connect(self.connection()?, true, true, true, Some(chip), None)
            .map_err(|e| format!("{}: entering the ROM loader: {e}", self.port.display()))
    }
}

impl BoardControl for SerialFlash {
    fn describe(&self) -> String {
        format!("espflash {} ({})", self.port.display(), self.chip)
    }

    fn present(&mut self) -> Result<(), String> {
        self.usb_info().map(drop)
    }

    fn flash(&mut self, bundle: &Bundle) -> Result<FlashReport, String> {
        self.record.clone().flash(bundle, || {
            let mut flasher = self.connect()?;
            let segments: Vec<Segment<'_>> = bundle
                .images
                .iter()
                .map(|i| Segment {
                    addr: i.offset,
                    data: Cow::Borrowed(&i.bytes),
                })
                .collect();
            flasher
                .write_bins_to_flash(&segments, &mut DefaultProgressCallback)
                .map_err(|e| format!("flashing {}: {e}", bundle.source.display()))
        })
    }

    fn erase(&mut self, range: Range<u32>) -> Result<(), String> {
        let mut flasher = self.connect()?;
        flasher
            .erase_region(range.start, range.end - range.start)
            .map_err(|e| format!("erasing {:#x}..{:#x}: {e}", range.start, range.end))
    }

    fn reset(&mut self) -> Result<(), String> {
        // espflash's reset for this port's USB bridge (an RTS pulse on EN).
        self.connection()?
            .reset()
            .map_err(|e| format!("{}: reset: {e}", self.port.display()))
    }

    fn uses_console_port(&self) -> bool {
        true
    }
}
