//! What the chip itself prints on its UART when it resets: the ROM's banner (its first line names the
//! ROM, `rst:0x…` the reset reason), and before a panic reboot the panic handler's lines. Serial clients
//! and HIL rigs recognise a reboot by `rst:0x`, a panic by `Guru Meditation Error`.

use std::fmt;
use std::str::FromStr;

/// The chips whose ROM text is known here (probe-rs target names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Chip {
    /// The classic ESP32 (Xtensa LX6).
    #[default]
    Esp32,
    /// ESP32-C3 (RISC-V).
    Esp32c3,
    /// ESP32-C6 (RISC-V).
    Esp32c6,
    /// ESP32-S3 (Xtensa LX7).
    Esp32s3,
}

impl Chip {
    /// Every chip, in name order.
    pub const ALL: [Self; 4] = [Self::Esp32, Self::Esp32c3, Self::Esp32c6, Self::Esp32s3];

    /// The probe-rs target name, e.g. `esp32c3`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Esp32 => "esp32",
            Self::Esp32c3 => "esp32c3",
            Self::Esp32c6 => "esp32c6",
            Self::Esp32s3 => "esp32s3",
        }
    }

    /// Where the second-stage bootloader lives in flash (ESP32 and S2 0x1000, the newer chips 0x0).
    pub fn bootloader_offset(self) -> u32 {
        match self {
            Self::Esp32 => 0x1000,
            Self::Esp32c3 | Self::Esp32c6 | Self::Esp32s3 => 0x0,
        }
    }
}

impl fmt::Display for Chip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Chip {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|c| c.name()).collect();
                format!("unknown chip {s:?}; known: {}", names.join(", "))
            })
    }
}

/// Why the chip reset, as the ROM reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetReason {
    /// Power applied, or the EN pin released.
    PowerOn,
    /// A software CPU reset: `esp_restart()`, or the panic handler's reboot.
    SoftwareCpu,
    /// A whole-system reset, as a debug probe's reset sequence does.
    System,
}

/// The ROM's banner for `reason`, CRLF line ends, starting on a fresh line.
pub fn banner(chip: Chip, reason: ResetReason) -> String {
    let (head, boot) = match chip {
        Chip::Esp32 => (
            "ets Jun  8 2016 00:22:57\r\n",
            "boot:0x13 (SPI_FAST_FLASH_BOOT)",
        ),
        Chip::Esp32c3 => (
            "ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\n",
            "boot:0xc (SPI_FAST_FLASH_BOOT)",
        ),
        Chip::Esp32c6 => (
            "ESP-ROM:esp32c6-20220919\r\nBuild:Sep 19 2022\r\n",
            "boot:0xc (SPI_FAST_FLASH_BOOT)",
        ),
        Chip::Esp32s3 => (
            "ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\n",
            "boot:0x8 (SPI_FAST_FLASH_BOOT)",
        ),
    };
    let rst = match (chip, reason) {
        (Chip::Esp32, ResetReason::PowerOn) => "rst:0x1 (POWERON_RESET)",
        (Chip::Esp32, ResetReason::SoftwareCpu) => "rst:0xc (SW_CPU_RESET)",
        (Chip::Esp32, ResetReason::System) => "rst:0x3 (SW_RESET)",
        (_, ResetReason::PowerOn) => "rst:0x1 (POWERON)",
        (Chip::Esp32c6, ResetReason::SoftwareCpu) => "rst:0xc (SW_CPU)",
        (Chip::Esp32c6, ResetReason::System) => "rst:0x3 (LP_SW_HPSYS)",
        (_, ResetReason::SoftwareCpu) => "rst:0xc (RTC_SW_CPU_RST)",
        (_, ResetReason::System) => "rst:0x3 (RTC_SW_SYS_RST)",
    };
    let gap = if chip == Chip::Esp32 { "\r\n" } else { "" };
    format!("\r\n{head}{gap}{rst},{boot}\r\n")
}

/// What the panic handler prints for a load from an invalid address, up to its reboot.
pub fn panic_lines(chip: Chip) -> String {
    let (cause, core) = match chip {
        Chip::Esp32 | Chip::Esp32s3 => ("LoadProhibited", "Core  0"),
        Chip::Esp32c3 | Chip::Esp32c6 => ("Load access fault", "Core  0"),
    };
    format!(
        "Guru Meditation Error: {core} panic'ed ({cause}). Exception was unhandled.\r\n\r\n\
         Backtrace: 0x400d5a2e:0x3ffbd0f0 0x400d6b11:0x3ffbd120 0x40089c1d:0x3ffbd150\r\n\r\n\
         ELF file SHA256: 0000000000000000\r\n\r\nRebooting...\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banners_name_the_reset() {
        let b = banner(Chip::Esp32, ResetReason::SoftwareCpu);
        assert_eq!(
            b,
            "\r\nets Jun  8 2016 00:22:57\r\n\r\nrst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
        );
        for chip in Chip::ALL {
            for reason in [
                ResetReason::PowerOn,
                ResetReason::SoftwareCpu,
                ResetReason::System,
            ] {
                assert!(
                    banner(chip, reason).contains("\r\nrst:0x"),
                    "{chip} {reason:?}"
                );
            }
            assert_eq!(chip.name().parse::<Chip>(), Ok(chip));
        }
        assert!(banner(Chip::Esp32c3, ResetReason::PowerOn).starts_with("\r\nESP-ROM:esp32c3"));
        assert!(panic_lines(Chip::Esp32c3).starts_with("Guru Meditation Error"));
        assert!("esp32h2".parse::<Chip>().is_err());
    }
}
