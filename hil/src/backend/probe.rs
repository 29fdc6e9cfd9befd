//! Boards with JTAG (the C3/C6/S3 built-in USB-Serial-JTAG, an ESP-Prog on a classic ESP32), through
//! probe-rs 0.32 and its Espressif plugin. Everything probe-rs is in this module.
//!
//! - [`register`] registers probe-rs-espressif once per process: before it, probe-rs knows no ESP32
//!   target and no ESP USB-JTAG probe;
//! - a probe is opened by its selector (`VID:PID[-IFACE][:SERIAL]`; an ESP USB-JTAG's serial is its MAC),
//!   and the errors say which of "not there", "busy" and "no permission" it is;
//! - flashing writes each image of `flasher_args.json` at its offset, exactly as `idf.py flash` does,
//!   with probe-rs' pre-verify (sectors already up to date are skipped), and is skipped altogether when
//!   the board's record says it already has this bundle's digest;
//! - erasing a range (the NVS partition) and resetting go through the same session.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Once;

use probe_rs::flashing::{DownloadOptions, FlashProgress};
use probe_rs::probe::list::{Accessibility, Lister};
use probe_rs::probe::{DebugProbeError, DebugProbeSelector, Probe, ProbeCreationError};
use probe_rs::{Permissions, Session};

use super::{BoardControl, FlashRecord, FlashReport};
use crate::firmware::Bundle;

/// Registers the Espressif plugin (targets, debug sequences, the USB-JTAG driver), once.
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(probe_rs_espressif::register_plugin);
}

/// A board on a debug probe.
pub struct ProbeRs {
    selector: String,
    chip: String,
    /// Where the digest of the last bundle flashed is kept.
    record: FlashRecord,
    /// A `Lister` is not `Send`, so a new one is made for each use.
    lister: Box<dyn Fn() -> Lister + Send>,
    session: Option<Session>,
}

impl ProbeRs {
    /// The board at probe `selector`, a `chip` (probe-rs target name); `record` remembers what was
    /// flashed.
    pub fn new(selector: &str, chip: &str, record: PathBuf) -> Self {
        Self::with_lister(selector, chip, record, Box::new(Lister::new))
    }

    /// The same with other probe listers (tests).
    pub fn with_lister(
        selector: &str,
        chip: &str,
        record: PathBuf,
        lister: Box<dyn Fn() -> Lister + Send>,
    ) -> Self {
        register();
        Self {
            selector: selector.to_owned(),
            chip: chip.to_owned(),
            record: FlashRecord(record),
            lister,
            session: None,
        }
    }

    fn selector(&self) -> Result<DebugProbeSelector, String> {
        self.selector
            .parse()
            .map_err(|e| format!("probe selector {:?}: {e}", self.selector))
    }

    fn open(&self) -> Result<Probe, String> {
        let sel = self.selector()?;
        (self.lister)()
            .open(sel)
            .map_err(|e| explain(&self.selector, &e))
    }

    fn session(&mut self) -> Result<&mut Session, String> {
        if self.session.is_none() {
            let probe = self.open()?;
            let s = probe
                .attach(self.chip.as_str(), Permissions::default())
                .map_err(|e| {
                    format!(
                        "probe {}: attaching to the {}: {e}",
                        self.selector, self.chip
                    )
                })?;
            self.session = Some(s);
        }
        self.session.as_mut().ok_or_else(|| "no session".to_owned())
    }

    /// Runs `f` on the session; a failure drops the session, so the next call attaches afresh.
    fn with_session<T>(
        &mut self,
        f: impl FnOnce(&mut Session) -> Result<T, String>,
    ) -> Result<T, String> {
        let r = f(self.session()?);
        if r.is_err() {
            self.session = None;
        }
        r
    }
}

/// What an open error means for the person at the rack.
fn explain(selector: &str, e: &DebugProbeError) -> String {
    match e {
        DebugProbeError::ProbeCouldNotBeCreated(ProbeCreationError::NotFound) => format!(
            "no probe matches {selector}: is the board plugged in? (`probe-rs list` shows the probes this host sees)"
        ),
        DebugProbeError::ProbeCouldNotBeCreated(ProbeCreationError::CouldNotOpen) => format!(
            "probe {selector} is busy: another program holds it (probe-rs, OpenOCD, espflash, another hil run)"
        ),
        DebugProbeError::Usb(io) | DebugProbeError::ProbeCouldNotBeCreated(ProbeCreationError::Usb(io))
            if io.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            format!("probe {selector}: permission denied: install the udev rules (hil/README.md)")
        }
        other => format!("probe {selector}: {other}"),
    }
}

impl BoardControl for ProbeRs {
    fn describe(&self) -> String {
        format!("probe-rs {} ({})", self.selector, self.chip)
    }

    fn present(&mut self) -> Result<(), String> {
        let sel = self.selector()?;
        let found = (self.lister)().list_with_access(Some(&sel));
        if found.is_empty() {
            return Err(explain(
                &self.selector,
                &DebugProbeError::ProbeCouldNotBeCreated(ProbeCreationError::NotFound),
            ));
        }
        if found
            .iter()
            .all(|p| p.accessibility == Accessibility::PermissionDenied)
        {
            return Err(format!(
                "probe {} is there but this user may not open it: install the udev rules (hil/README.md)",
                self.selector
            ));
        }
        Ok(())
    }

    fn flash(&mut self, bundle: &Bundle) -> Result<FlashReport, String> {
        self.record.clone().flash(bundle, || {
            self.with_session(|session| {
                let mut loader = session.target().flash_loader();
                for image in &bundle.images {
                    loader
                        .add_data(u64::from(image.offset), &image.bytes)
                        .map_err(|e| {
                            format!("image {} at {:#x}: {e}", image.path.display(), image.offset)
                        })?;
                }
                let mut opts = DownloadOptions::default();
                opts.preverify = true;
                opts.verify = true;
                loader
                    .commit(session, opts)
                    .map_err(|e| format!("flashing {}: {e}", bundle.source.display()))
            })
        })
    }

    fn erase(&mut self, range: Range<u32>) -> Result<(), String> {
        self.with_session(|session| {
            probe_rs::flashing::erase(
                session,
                &mut FlashProgress::empty(),
                u64::from(range.start),
                u64::from(range.end),
                false,
            )
            .map_err(|e| format!("erasing {:#x}..{:#x}: {e}", range.start, range.end))
        })
    }

    fn reset(&mut self) -> Result<(), String> {
        self.with_session(|session| {
            session
                .core(0)
                .and_then(|mut core| core.reset())
                .map_err(|e| format!("reset: {e}"))
        })?;
        // Let go of the probe: the application runs, and the next erase attaches afresh.
        self.session = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
