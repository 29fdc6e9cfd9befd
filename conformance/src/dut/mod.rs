//! Devices under test: how the suite reaches a device, and whether each connection boots a fresh one.
//!
//! - [`sim`]: the embedded simulator (default), a fresh device per case, over HTTP, its console, BLE or
//!   no transport at all ([`memory`]: in this process, on virtual time);
//! - `http://HOST:PORT`: any SoftAP-scheme device ([`http`]);
//! - `console:<command>`: a program speaking the console line protocol on stdin/stdout, started anew
//!   for each case ([`process`]);
//! - `serial:<port>[@baud]`: a board's UART ([`serial`]);
//! - `ble:<name-prefix>`: a device advertising over BLE, reached through BlueZ ([`ble`]).

pub mod ble;
pub mod control;
pub mod http;
pub mod line;
pub mod memory;
pub mod process;
pub mod serial;
pub mod sim;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::link::{Link, LinkError, Transport};

/// Which device a link must reach.
#[derive(Clone, Debug, Default)]
pub enum Boot {
    /// The device as it is configured.
    #[default]
    Standard,
    /// A device set up as a golden recording's oracle was, with the recorded device randomness injected
    /// and a virtual clock, so the replay can be byte-exact. Only a DUT that
    /// [`boots_recordings`](Dut::boots_recordings) honours it; others give their standard device.
    Recording(Arc<vectors::Scenario>),
}

/// Where the device is, as given to `--dut`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DutSpec {
    /// The embedded simulator.
    Sim,
    /// `http://HOST:PORT`.
    Http(String),
    /// `console:<command>`, run with `sh -c`.
    Console(String),
    /// `serial:<port>[@baud]`.
    Serial {
        /// Port path, e.g. `/dev/ttyUSB0`.
        port: String,
        /// Baud rate (default 115200).
        baud: u32,
    },
    /// `ble:<name-prefix>`: the first device advertising a name with this prefix.
    Ble(String),
}

impl FromStr for DutSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "sim" {
            return Ok(Self::Sim);
        }
        if let Some(rest) = s.strip_prefix("http://") {
            let authority = rest.trim_end_matches('/');
            if authority.is_empty() || authority.contains('/') {
                return Err(format!("{s:?}: expected http://HOST:PORT"));
            }
            let authority = if authority.contains(':') {
                authority.to_owned()
            } else {
                format!("{authority}:80")
            };
            return Ok(Self::Http(authority));
        }
        if let Some(cmd) = s.strip_prefix("console:") {
            if cmd.trim().is_empty() {
                return Err("console: needs a command, e.g. console:'sim-device --transport console --security 1'".into());
            }
            return Ok(Self::Console(cmd.to_owned()));
        }
        if let Some(rest) = s.strip_prefix("serial:") {
            let (port, baud) = match rest.rsplit_once('@') {
                Some((p, b)) => (
                    p,
                    b.parse::<u32>()
                        .map_err(|_| format!("{s:?}: baud rate {b:?} is not a number"))?,
                ),
                None => (rest, 115_200),
            };
            if port.is_empty() {
                return Err(format!(
                    "{s:?}: expected serial:<port>[@baud], e.g. serial:/dev/ttyUSB0@115200"
                ));
            }
            return Ok(Self::Serial {
                port: port.to_owned(),
                baud,
            });
        }
        if let Some(prefix) = s.strip_prefix("ble:") {
            if prefix.is_empty() {
                return Err(format!(
                    "{s:?}: expected ble:<name-prefix>, e.g. ble:PROV_ (the advertised service name)"
                ));
            }
            return Ok(Self::Ble(prefix.to_owned()));
        }
        Err(format!(
            "unknown device {s:?}; expected sim, http://HOST:PORT, console:<command>, serial:<port>[@baud] or ble:<name-prefix>"
        ))
    }
}

impl fmt::Display for DutSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sim => f.write_str("sim"),
            Self::Http(a) => write!(f, "http://{a}"),
            Self::Console(c) => write!(f, "console:{c}"),
            Self::Serial { port, baud } => write!(f, "serial:{port}@{baud}"),
            Self::Ble(prefix) => write!(f, "ble:{prefix}"),
        }
    }
}

/// A device the suite can connect to, any number of times.
pub trait Dut: Send + Sync {
    /// Short label for reports (`sim`, `http://…`).
    fn label(&self) -> String;
    /// The transport of its links.
    fn transport(&self) -> Transport;
    /// Whether every [`Dut::connect`] gives a freshly booted, unprovisioned device. When it does not,
    /// cases that change the device's state run last and the report says so.
    fn fresh_per_connect(&self) -> bool;
    /// How many links may be open at once (cases run in parallel up to this).
    fn parallelism(&self) -> usize;
    /// Whether [`Boot::Recording`] is honoured (the embedded simulator).
    fn boots_recordings(&self) -> bool {
        false
    }
    /// Opens a link to the device `boot` asks for.
    fn connect(&self, boot: &Boot) -> Result<Box<dyn Link>, LinkError>;
    /// How the DUT itself looks after a device that keeps its state, when it knows better than the
    /// device file's `[reset]` (a HIL board: erase its provisioning state, reset it, watch its console).
    fn custody(&self) -> Option<&dyn Custody> {
        None
    }
}

/// A device its DUT looks after between cases (a HIL board).
pub trait Custody: Send + Sync {
    /// Brings the device back to "freshly booted, not provisioned" and waits until it is ready.
    fn reset(&self) -> Result<(), String>;
    /// What the device's own output has shown so far: reboots it did on its own (a panic, a watchdog,
    /// a ROM reset line) and whether that output is gone.
    fn reboots(&self) -> Reboots;
}

/// Reboots a device showed on its own, as counted by whoever watches its output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reboots {
    /// Reboots so far (resets the custodian asked for are not counted).
    pub count: u64,
    /// The line that showed the last one, e.g. `Guru Meditation Error: Core  0 panic'ed (…)`.
    pub last: Option<String>,
    /// Why the device's output is gone (a console that vanished), if it is.
    pub gone: Option<String>,
}
