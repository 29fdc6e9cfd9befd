//! A virtual board's SPI flash: a file of the flash's size, erased to `FF`. Flashing writes images at
//! their offsets (and skips what is already there, as a verify-before-write probe does); the
//! bootloader reads it back; the NVS partition is where the application keeps its credentials, so
//! erasing that range clears the application's NVS directory.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The flash.
#[derive(Debug)]
pub struct VirtualFlash {
    file: File,
    size: u32,
    nvs_dir: PathBuf,
}

impl VirtualFlash {
    /// The flash in `path` (created erased if missing), `size` bytes, NVS kept in `nvs_dir`.
    pub fn open(path: &Path, size: u32, nvs_dir: PathBuf) -> std::io::Result<Self> {
        let fresh = !path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        if fresh || file.metadata()?.len() != u64::from(size) {
            file.set_len(0)?;
            file.write_all(&vec![0xFF; size as usize])?;
        }
        std::fs::create_dir_all(&nvs_dir)?;
        Ok(Self {
            file,
            size,
            nvs_dir,
        })
    }

    /// Where the application keeps its NVS (`sim-device --state-dir`).
    pub fn nvs_dir(&self) -> &Path {
        &self.nvs_dir
    }

    fn check(&self, r: &Range<u32>) -> Result<(), String> {
        if r.start > r.end || r.end > self.size {
            return Err(format!(
                "{:#x}..{:#x} is outside the {:#x}-byte flash",
                r.start, r.end, self.size
            ));
        }
        Ok(())
    }

    /// Reads a range.
    pub fn read(&mut self, r: Range<u32>) -> Result<Vec<u8>, String> {
        self.check(&r)?;
        let mut out = vec![0u8; (r.end - r.start) as usize];
        self.file
            .seek(SeekFrom::Start(u64::from(r.start)))
            .and_then(|_| self.file.read_exact(&mut out))
            .map_err(|e| format!("virtual flash: {e}"))?;
        Ok(out)
    }

    /// Writes `bytes` at `offset` unless they are there already; whether it wrote.
    pub fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<bool, String> {
        let end = u32::try_from(bytes.len())
            .ok()
            .and_then(|n| offset.checked_add(n))
            .ok_or("image too large")?;
        if self.read(offset..end)? == bytes {
            return Ok(false);
        }
        self.file
            .seek(SeekFrom::Start(u64::from(offset)))
            .and_then(|_| self.file.write_all(bytes))
            .and_then(|()| self.file.sync_data())
            .map_err(|e| format!("virtual flash: {e}"))?;
        Ok(true)
    }

    /// Erases a range to `FF`; `nvs` is the NVS partition's range, whose contents live in the NVS
    /// directory.
    pub fn erase(&mut self, r: Range<u32>, nvs: Range<u32>) -> Result<(), String> {
        self.check(&r)?;
        self.file
            .seek(SeekFrom::Start(u64::from(r.start)))
            .and_then(|_| self.file.write_all(&vec![0xFF; (r.end - r.start) as usize]))
            .map_err(|e| format!("virtual flash: {e}"))?;
        if r.start < nvs.end && nvs.start < r.end {
            std::fs::remove_dir_all(&self.nvs_dir)
                .and_then(|()| std::fs::create_dir_all(&self.nvs_dir))
                .map_err(|e| format!("virtual NVS {}: {e}", self.nvs_dir.display()))?;
        }
        Ok(())
    }

    /// The image in a partition: its bytes up to the erased tail.
    pub fn image(&mut self, r: Range<u32>) -> Result<Vec<u8>, String> {
        let mut bytes = self.read(r)?;
        let end = bytes.iter().rposition(|&b| b != 0xFF).map_or(0, |i| i + 1);
        bytes.truncate(end);
        Ok(bytes)
    }
}
