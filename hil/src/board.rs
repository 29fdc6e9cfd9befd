//! One board's lifecycle: present → flashed (only if its firmware changed) → provisioning state
//! erased → reset → ready (its console prints `Provisioning started with service name : PROV_…`,
//! whose name is taken) → the conformance cases, with "erase, reset, ready" again whenever a case
//! left something behind ([`Board`] is the suite's [`Custody`] of the board) → released.
//!
//! Every step that touches the hardware is retried with bounded recovery (a USB reset, then a power
//! cycle), each attempt written to the console log and to the board's facts, so a report shows what
//! was tried. Everything the HIL does is marked in the console log (`--- hil: … ---`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use conformance::description::Description;
use conformance::dut::{Custody, Reboots};

use crate::backend::{BoardControl, Power};
use crate::console::{self, Console};
use crate::firmware::Bundle;
use crate::inventory::BoardSpec;

/// How long power stays off in a power cycle.
const POWER_OFF: Duration = Duration::from_millis(500);

/// A board being driven.
pub struct Board {
    /// What the inventory says.
    pub spec: BoardSpec,
    /// Its firmware.
    pub bundle: Bundle,
    /// What the firmware is, for the suite.
    pub desc: Description,
    /// Its console.
    pub console: Arc<Console>,
    /// Where its SoftAP's HTTP server answers.
    pub softap: SocketAddr,
    control: Mutex<Box<dyn BoardControl>>,
    power: Mutex<Box<dyn Power>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    service_name: Option<String>,
    facts: Vec<(String, String)>,
    resets: u32,
    recoveries: Vec<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Board {
    /// A board with its parts; nothing is done to it yet.
    pub fn new(
        spec: BoardSpec,
        bundle: Bundle,
        desc: Description,
        console: Arc<Console>,
        softap: SocketAddr,
        control: Box<dyn BoardControl>,
        power: Box<dyn Power>,
    ) -> Self {
        Self {
            spec,
            bundle,
            desc,
            console,
            softap,
            control: Mutex::new(control),
            power: Mutex::new(power),
            state: Mutex::new(State::default()),
        }
    }

    /// Records a fact for the reports (a JUnit property, a line under the board's heading).
    pub fn fact(&self, key: &str, value: impl Into<String>) {
        let mut s = lock(&self.state);
        let value = value.into();
        match s.facts.iter_mut().find(|(k, _)| k == key) {
            Some(f) => f.1 = value,
            None => s.facts.push((key.to_owned(), value)),
        }
    }

    /// Facts so far, with the running counts.
    pub fn facts(&self) -> Vec<(String, String)> {
        let s = lock(&self.state);
        let mut out = s.facts.clone();
        out.push(("resets".into(), s.resets.to_string()));
        if !s.recoveries.is_empty() {
            out.push(("recoveries".into(), s.recoveries.join("; ")));
        }
        out
    }

    /// The service name the board printed when it last became ready.
    pub fn service_name(&self) -> Option<String> {
        lock(&self.state).service_name.clone()
    }

    /// Present, flashed, erased, reset, ready: the board before its first case.
    pub fn prepare(&self) -> Result<(), String> {
        let describe = lock(&self.control).describe();
        self.fact("backend", describe);
        self.fact(
            "firmware",
            format!(
                "{} (sha256 {})",
                self.bundle.source.display(),
                &self.bundle.digest()[..12]
            ),
        );
        self.with_recovery("find the board", || lock(&self.control).present())?;
        self.with_recovery("flash", || self.flash())?;
        let started = Instant::now();
        self.with_recovery("boot", || self.fresh())?;
        self.fact("boot_ms", started.elapsed().as_millis().to_string());
        Ok(())
    }

    fn flash(&self) -> Result<(), String> {
        let size = self.bundle.len();
        self.console.note(&format!(
            "flash {} ({size} bytes)",
            self.bundle.source.display()
        ));
        let report = self.on_port(|c| c.flash(&self.bundle))?;
        self.fact("flash_ms", report.took.as_millis().to_string());
        self.fact(
            "flash",
            if report.unchanged {
                "unchanged (skipped)".to_owned()
            } else {
                format!("{} bytes written", report.written)
            },
        );
        Ok(())
    }

    /// Runs a control operation, letting go of the console's port meanwhile when it needs it.
    fn on_port<T>(
        &self,
        f: impl FnOnce(&mut dyn BoardControl) -> Result<T, String>,
    ) -> Result<T, String> {
        let mut control = lock(&self.control);
        if !control.uses_console_port() {
            return f(control.as_mut());
        }
        self.console.close();
        let r = f(control.as_mut());
        let reopened = self.console.reopen();
        let out = r?;
        reopened.map(|()| out)
    }

    /// Erase provisioning state, reset, wait for the readiness line.
    fn fresh(&self) -> Result<(), String> {
        let nvs = self.bundle.nvs();
        self.console.note(&format!(
            "erase nvs {:#x}..{:#x}, reset",
            nvs.start, nvs.end
        ));
        self.on_port(|c| c.erase(nvs.clone()))?;
        let from = self.console.mark();
        self.console.expect_reset();
        let started = Instant::now();
        let reset = self.on_port(|c| c.reset());
        if let Err(e) = reset {
            self.console.clear_expected();
            return Err(e);
        }
        let name = self
            .console
            .wait_for(from, self.spec.ready_timeout, console::service_name)
            .map_err(|e| {
                format!("no readiness line (`Provisioning started with service name : …`): {e}")
            });
        // A reset whose ROM line never showed must not hide a later reboot.
        self.console.clear_expected();
        let name = name?;
        let want = self.spec.expected_service_name();
        if name != want {
            self.fact(
                "service_name_note",
                format!("the board says {name}, its MAC gives {want}"),
            );
        }
        self.fact("service_name", name.clone());
        self.fact("ready_ms", started.elapsed().as_millis().to_string());
        lock(&self.state).service_name = Some(name);
        Ok(())
    }

    /// Runs `step`; when it fails, recovers (USB reset, then a power cycle) and tries again, at most
    /// twice. Every attempt is recorded.
    fn with_recovery(
        &self,
        what: &str,
        mut step: impl FnMut() -> Result<(), String>,
    ) -> Result<(), String> {
        let first = match step() {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let mut tried = vec![format!("{what}: {first}")];
        for (name, recover) in [
            (
                "usb reset",
                Box::new(|p: &mut Box<dyn Power>| p.usb_reset())
                    as Box<dyn Fn(&mut Box<dyn Power>) -> Result<(), String>>,
            ),
            (
                "power cycle",
                Box::new(|p: &mut Box<dyn Power>| p.cycle(POWER_OFF)),
            ),
        ] {
            self.console
                .note(&format!("{what} failed; recovery: {name}"));
            let recovered = recover(&mut lock(&self.power)).and_then(|()| {
                if self.console.reboots().gone.is_some() {
                    self.console.reopen()
                } else {
                    Ok(())
                }
            });
            let outcome = match recovered {
                Err(e) => format!("{name} failed: {e}"),
                Ok(()) => match step() {
                    Ok(()) => {
                        let note = format!("{what} recovered by {name}");
                        self.console.note(&note);
                        lock(&self.state).recoveries.push(note);
                        return Ok(());
                    }
                    Err(e) => format!("after {name}: {e}"),
                },
            };
            tried.push(outcome);
        }
        let all = tried.join("; ");
        lock(&self.state)
            .recoveries
            .push(format!("{what} failed: {all}"));
        self.console.note(&format!("{what} failed for good"));
        Err(all)
    }

    /// What the console log holds from `from` on.
    pub fn log_since(&self, from: usize) -> String {
        self.console.log_since(from)
    }
}

impl Custody for Board {
    fn reset(&self) -> Result<(), String> {
        lock(&self.state).resets += 1;
        self.with_recovery("reset", || self.fresh())
    }

    fn reboots(&self) -> Reboots {
        self.console.reboots()
    }
}

/// The radio a column runs through, joined for the column and left after it.
pub fn join(radio: &crate::inventory::Radio, ssid: &str) -> Result<(), String> {
    radio_command(radio, radio.join.as_deref(), ssid)
}

/// Leaves what [`join`] joined.
pub fn leave(radio: &crate::inventory::Radio, ssid: &str) -> Result<(), String> {
    radio_command(radio, radio.leave.as_deref(), ssid)
}

fn radio_command(
    radio: &crate::inventory::Radio,
    cmd: Option<&str>,
    ssid: &str,
) -> Result<(), String> {
    let Some(cmd) = cmd else { return Ok(()) };
    let line = cmd.replace("{ssid}", ssid).replace(
        "{interface}",
        radio.interface.as_deref().unwrap_or_default(),
    );
    let st = std::process::Command::new("sh")
        .args(["-c", &line])
        .status()
        .map_err(|e| format!("radio {}: {line}: {e}", radio.name))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("radio {}: `{line}` exited with {st}", radio.name))
    }
}
