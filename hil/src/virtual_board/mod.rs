//! A virtual board: an ESP32 made of a file (its flash, [`flash`]), a pseudo-terminal (its UART
//! bridge, [`bridge`]) and a `sim-device` process (its application), behind the same traits as a chip
//! on a probe, so the whole HIL pipeline runs here and in CI:
//!
//! - "flash" writes the bundle's images into the flash file; a virtual bundle's app image names the
//!   simulator's configuration ([`app`]);
//! - "reset" stops the application and boots again: the ROM banner, the bootloader reading the flash
//!   ([`boot`]), then `sim-device --uart-log` on the UART, which prints ESP-IDF's readiness line;
//! - "erase NVS" erases that range of the flash, and with it the application's credentials (the factory
//!   reset); a power cycle kills the application first;
//! - faults (`[board.virtual] faults`): a flash that fails, an application that never gets ready, a
//!   console whose USB device vanishes.

pub mod app;
pub mod boot;
pub mod bridge;
pub mod flash;

use std::io::{BufRead, BufReader, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use sim_device::runtime::uart::rom::{Chip, ResetReason};

use self::bridge::Bridge;
use self::flash::VirtualFlash;
use crate::backend::serial::SerialConsole;
use crate::backend::{BoardControl, ConsolePort, FlashReport, Power};
use crate::firmware::Bundle;
use crate::inventory::{BoardSpec, Capability, Fault};

/// Flash size when the bundle does not say.
const DEFAULT_FLASH: u32 = 4 << 20;

/// Where a virtual board is reached and with what.
pub struct Parts {
    /// Flash, erase, reset.
    pub control: Box<dyn BoardControl>,
    /// Its console (the bridge's host side, opened like any serial device).
    pub console: Box<dyn ConsolePort>,
    /// USB and power.
    pub power: Box<dyn Power>,
    /// Where its SoftAP's HTTP server listens.
    pub softap: std::net::SocketAddr,
}

/// Builds a virtual board for `spec`, keeping its flash and NVS under `dir`. `sim_device` is the
/// application's program; `ble_adapter` the BlueZ adapter its radio is (virtual BLE boards).
pub fn build(
    spec: &BoardSpec,
    dir: &Path,
    sim_device: PathBuf,
    ble_adapter: Option<String>,
) -> Result<Parts, String> {
    let io = |e: std::io::Error| format!("virtual board {}: {e}", spec.id);
    std::fs::create_dir_all(dir).map_err(io)?;
    let bridge = Bridge::open().map_err(io)?;
    let console = Box::new(SerialConsole {
        path: bridge.path().to_owned(),
        baud: 115_200,
        release_lines: false,
    });
    // The address its SoftAP answers on stays the same across resets, as 192.168.4.1:80 does.
    let softap = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(io)?;
    let faults = spec.virtual_board.clone().unwrap_or_default();
    let chip = Arc::new(Mutex::new(VirtualChip {
        id: spec.id.clone(),
        chip: spec.chip,
        mac: spec.mac,
        dir: dir.to_owned(),
        flash: None,
        bridge,
        app: None,
        sim_device,
        ble_adapter,
        softap,
        faults: faults.faults,
        vanish_after: faults.vanish_after,
        vanish_armed: false,
    }));
    Ok(Parts {
        control: Box::new(VirtualControl(Arc::clone(&chip))),
        console,
        power: Box::new(VirtualPower(chip)),
        softap,
    })
}

/// The running application.
struct App {
    child: Child,
    stdout: Option<JoinHandle<()>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

/// The virtual hardware.
struct VirtualChip {
    id: String,
    chip: Chip,
    mac: [u8; 6],
    dir: PathBuf,
    flash: Option<VirtualFlash>,
    bridge: Bridge,
    app: Option<App>,
    sim_device: PathBuf,
    ble_adapter: Option<String>,
    softap: std::net::SocketAddr,
    faults: std::collections::BTreeSet<Fault>,
    vanish_after: Duration,
    vanish_armed: bool,
}

impl VirtualChip {
    fn flash(&mut self, size: Option<u32>) -> Result<&mut VirtualFlash, String> {
        if self.flash.is_none() {
            let f = VirtualFlash::open(
                &self.dir.join("flash.bin"),
                size.unwrap_or(DEFAULT_FLASH),
                self.dir.join("nvs"),
            )
            .map_err(|e| format!("virtual flash: {e}"))?;
            self.flash = Some(f);
        }
        self.flash
            .as_mut()
            .ok_or_else(|| "virtual flash".to_owned())
    }

    fn usb(&self) -> Result<(), String> {
        if self.bridge.plugged() {
            Ok(())
        } else {
            Err(format!(
                "board {}: its USB device is gone (unplugged)",
                self.id
            ))
        }
    }

    /// Stops the application: SIGTERM, then SIGKILL after a moment (`hard`: SIGKILL at once).
    fn stop(&mut self, hard: bool) {
        let Some(mut app) = self.app.take() else {
            return;
        };
        self.bridge.attach(None);
        let pid = Pid::from_raw(i32::try_from(app.child.id()).unwrap_or(0));
        if !hard {
            let _ = kill(pid, Signal::SIGTERM);
            let until = Instant::now() + Duration::from_secs(1);
            while Instant::now() < until && matches!(app.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = app.child.kill();
        let _ = app.child.wait();
        // Everything it printed reaches the UART before the ROM's next banner.
        if let Some(t) = app.stdout.take() {
            let _ = t.join();
        }
    }

    /// ROM, bootloader, application.
    fn boot(&mut self, reason: ResetReason) -> Result<(), String> {
        self.usb()?;
        let chip = self.chip;
        let mut out = String::new();
        let booted = boot::boot(chip, reason, self.flash(None)?, &mut out);
        self.bridge.send(out.into_bytes());
        let Ok(booted) = booted else {
            // A chip with nothing to boot prints why and stops: the board never gets ready.
            return Ok(());
        };
        if self.faults.contains(&Fault::NeverReady) {
            self.bridge
                .send(b"I (312) cpu_start: Starting scheduler on PRO CPU.\r\n".to_vec());
            return Ok(());
        }
        self.start(&booted.app)
    }

    fn start(&mut self, app: &app::VirtualApp) -> Result<(), String> {
        let mac = self.mac.map(|b| format!("{b:02x}")).join(":");
        let mut cmd = Command::new(&self.sim_device);
        cmd.args([
            "--uart-log",
            "--no-control",
            "--chip",
            self.chip.name(),
            "--mac",
            &mac,
        ])
        .arg("--state-dir")
        .arg(self.dir.join("nvs"))
        .args(["--transport", &app.transport]);
        match app.capability() {
            Some(Capability::Softap) => {
                cmd.args(["--listen", &self.softap.to_string()]);
            }
            Some(Capability::Ble) => {
                if let Some(a) = &self.ble_adapter {
                    cmd.args(["--ble-adapter", a]);
                }
            }
            _ => {}
        }
        let mut child = cmd
            .args(&app.args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.sim_device.display()))?;
        self.bridge.attach(child.stdin.take());
        let stdout = child.stdout.take().map(|mut out| {
            let tx = self.bridge.sender();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = out.read(&mut buf) {
                    if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            })
        });
        // The simulator's own stderr is the host's business (its start-up banner names the PoP, which
        // never goes into a report): only its error lines are kept, to say why it stopped.
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(err) = child.stderr.take() {
            let keep = Arc::clone(&stderr);
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if line.starts_with("sim-device: error") || line.contains(" ERROR ") {
                        keep.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                    }
                }
            });
        }
        self.app = Some(App {
            child,
            stdout,
            stderr,
        });
        Ok(())
    }

    /// Why the application stopped, if it did.
    fn app_exit(&mut self) -> Option<String> {
        let app = self.app.as_mut()?;
        let status = app.child.try_wait().ok().flatten()?;
        let errors = app
            .stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("; ");
        Some(format!(
            "the application exited ({status}){}",
            if errors.is_empty() {
                String::new()
            } else {
                format!(": {errors}")
            }
        ))
    }
}

/// `console-vanishes`: the cable comes out some time after the application first started.
fn arm_vanish(chip: &Arc<Mutex<VirtualChip>>, c: &mut VirtualChip) {
    if !c.faults.contains(&Fault::ConsoleVanishes) || c.vanish_armed || c.app.is_none() {
        return;
    }
    c.vanish_armed = true;
    let (chip, after) = (Arc::clone(chip), c.vanish_after);
    std::thread::spawn(move || {
        std::thread::sleep(after);
        let mut c = lock(&chip);
        // A bus-powered board loses power with its cable.
        c.stop(true);
        c.bridge.unplug();
    });
}

impl Drop for VirtualChip {
    fn drop(&mut self) {
        self.stop(true);
    }
}

fn lock(chip: &Arc<Mutex<VirtualChip>>) -> MutexGuard<'_, VirtualChip> {
    chip.lock().unwrap_or_else(|p| p.into_inner())
}

/// A virtual board's flash, erase and reset.
struct VirtualControl(Arc<Mutex<VirtualChip>>);

impl BoardControl for VirtualControl {
    fn describe(&self) -> String {
        format!("virtual chip ({})", lock(&self.0).sim_device.display())
    }

    fn present(&mut self) -> Result<(), String> {
        let c = lock(&self.0);
        c.usb()?;
        if !c.sim_device.is_file() {
            return Err(format!(
                "the virtual board's application, {}, is not built (`cargo build -p sim-device`)",
                c.sim_device.display()
            ));
        }
        Ok(())
    }

    fn flash(&mut self, bundle: &Bundle) -> Result<FlashReport, String> {
        let started = Instant::now();
        let mut c = lock(&self.0);
        c.usb()?;
        if c.faults.contains(&Fault::FlashFails) {
            let first = bundle.images.first().map_or(0, |i| i.offset);
            return Err(format!(
                "writing {:#x}: the flash chip does not answer (virtual fault flash-fails)",
                first
            ));
        }
        // Flashing halts the chip, as a probe's flash loader does.
        c.stop(true);
        let flash = c.flash(bundle.flash_size)?;
        let mut written = 0;
        for image in &bundle.images {
            if flash.write(image.offset, &image.bytes)? {
                written += image.bytes.len();
            }
        }
        Ok(FlashReport {
            written,
            unchanged: written == 0,
            took: started.elapsed(),
        })
    }

    fn erase(&mut self, range: Range<u32>) -> Result<(), String> {
        let mut c = lock(&self.0);
        c.usb()?;
        c.stop(true);
        let flash = c.flash(None)?;
        // Which range is NVS, the flash's own partition table says.
        let at = crate::firmware::partition::DEFAULT_OFFSET;
        let nvs = flash
            .read(at..at + crate::firmware::partition::MAX_LEN as u32)
            .and_then(|t| crate::firmware::partition::PartitionTable::parse_bin(&t))
            .and_then(|t| t.nvs().map(|p| p.range()))
            .unwrap_or(0..0);
        flash.erase(range, nvs)
    }

    fn reset(&mut self) -> Result<(), String> {
        let mut c = lock(&self.0);
        if let Some(why) = c.app_exit() {
            tracing::info!(board = %c.id, %why, "the application had stopped before the reset");
        }
        c.stop(false);
        c.boot(ResetReason::System)?;
        arm_vanish(&self.0, &mut c);
        Ok(())
    }
}

/// A virtual board's USB link and power.
struct VirtualPower(Arc<Mutex<VirtualChip>>);

impl Power for VirtualPower {
    fn describe(&self) -> String {
        "virtual power (the application process)".into()
    }

    fn usb_reset(&mut self) -> Result<(), String> {
        // A virtual bridge never wedges; one that was unplugged stays gone.
        lock(&self.0).usb()
    }

    fn cycle(&mut self, off: Duration) -> Result<(), String> {
        let mut c = lock(&self.0);
        c.usb()?;
        c.stop(true);
        std::thread::sleep(off);
        c.boot(ResetReason::PowerOn)?;
        arm_vanish(&self.0, &mut c);
        Ok(())
    }
}
