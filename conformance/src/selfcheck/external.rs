//! `self-check --external`: the self-check against the simulator as another process, the way the suite
//! meets every device users care about: `sim-device` over HTTP (`http://…`) and over its console on a
//! pseudo-terminal (`serial:/dev/pts/N`, no line limit so that Security 2 runs), one long-running
//! process per column, kept state and all, reset between cases through its control channel (the device
//! file's `[reset] control`).
//!
//! The well-behaved simulator runs the whole catalogue in every column and must pass without a single
//! "not judged" verdict. Each misbehaviour runs the cases that caught it in process, in the schemes
//! where they did, and must be caught again; a transport's misbehaviour runs over that transport only.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sim_device::misbehave::Misbehaviour;
use tokio::runtime::Runtime;

use super::{failures, pool};
use crate::case::Case;
use crate::description::Description;
use crate::dut::DutSpec;
use crate::matrix::Request;
use crate::model::{SelfCheckRow, Verdict};

/// How the external simulator is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// The SoftAP scheme on a loopback port.
    Http,
    /// The console line protocol on a pseudo-terminal, as a board's UART.
    Console,
}

impl Wire {
    /// Name in column labels.
    pub fn name(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Console => "console",
        }
    }
}

/// A `sim-device` process; killed when dropped.
pub struct SimProcess {
    child: Child,
    /// How the suite reaches it.
    pub dut: DutSpec,
    /// Its device file: the simulator's defaults, its control channel as `[reset] control`.
    pub desc: Description,
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `sim-device` binary next to the running suite (cargo builds both into the same directory).
pub fn sim_device_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("where am I: {e}"))?;
    // Test binaries live one level deeper (target/debug/deps).
    for dir in exe.ancestors().skip(1).take(2) {
        let p = dir.join("sim-device");
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(format!(
        "no sim-device binary beside {}: build it (`cargo build -p sim-device`; `cargo xtask conformance` does)",
        exe.display()
    ))
}

impl SimProcess {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `binary` for scheme `sec` with `misbehave`, reachable over `wire`, with a control channel.
    pub fn start(
        binary: &Path,
        wire: Wire,
        sec: u8,
        profile: prov_client::Profile,
        misbehave: Option<Misbehaviour>,
        extra: &[&str],
    ) -> Result<Self, String> {
        let mut cmd = Command::new(binary);
        cmd.args(["--security", &sec.to_string(), "--profile", profile.name()])
            .args(["--control", "127.0.0.1:0", "--listen", "127.0.0.1:0"])
            .args(extra);
        if let Some(m) = misbehave {
            cmd.args(["--misbehave", m.name()]);
        }
        if wire == Wire::Console {
            cmd.args([
                "--transport",
                "console",
                "--console-pty",
                "--console-line-max",
                "0",
            ]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("RUST_LOG", "warn")
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let (tx, rx) = mpsc::channel();
        for out in [
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|e| Box::new(e) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            // Read to the end, also after the addresses are known: a closed pipe would make the
            // device's next log line fail.
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let mut process = Self {
            child,
            dut: DutSpec::Sim,
            desc: Description::simulator(sec),
        };
        let (mut device, mut control) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(20);
        while device.is_none() || control.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .map_err(|_| format!("{} printed no address within 20 s", binary.display()))?;
            let after = |marker: &str| {
                line.split_once(marker)
                    .and_then(|(_, r)| r.split_whitespace().next().map(str::to_owned))
            };
            if let Some(url) = after("SoftAP HTTP on ") {
                device = Some(url.parse::<DutSpec>()?);
            } else if let Some(port) = after("Console on ") {
                device = Some(DutSpec::Serial {
                    port,
                    baud: 115_200,
                });
            } else if let Some(url) = after("Control on ") {
                control = Some(url);
            }
        }
        process.dut = device.unwrap_or(DutSpec::Sim);
        process.desc.profile = Some(profile.name().into());
        process.desc.reset.control = control;
        process.desc.console.line_max = 0;
        Ok(process)
    }
}

/// One column of the external self-check: a row's misbehaviour over one wire in one scheme, with a
/// case filter (`None`: the whole catalogue).
struct Job {
    row: usize,
    misbehaviour: Option<Misbehaviour>,
    wire: Wire,
    sec: u8,
    filter: Option<String>,
}

/// The external self-check, given the in-process rows (which say where each misbehaviour is caught).
pub fn rows(
    base: &Request,
    in_process: &[SelfCheckRow],
    catalogue: &[Case],
    rt: &Arc<Runtime>,
) -> Result<Vec<SelfCheckRow>, String> {
    let binary = sim_device_binary()?;
    let mut jobs = Vec::new();
    for (row, r) in in_process.iter().enumerate() {
        let wires: &[Wire] = match r.misbehaviour.and_then(Misbehaviour::transport) {
            Some("http") => &[Wire::Http],
            Some(_) => &[],
            None => &[Wire::Http, Wire::Console],
        };
        let (secs, filter) = match r.misbehaviour {
            None => (BTreeSet::from([0, 1, 2]), None),
            Some(_) => {
                let secs: BTreeSet<u8> = r
                    .caught_by
                    .values()
                    .flatten()
                    .filter_map(|col| col.rsplit("/sec").next()?.parse().ok())
                    .collect();
                let ids: Vec<&str> = r.caught_by.keys().map(String::as_str).collect();
                (secs, Some(ids.join(",")))
            }
        };
        for &wire in wires {
            for &sec in &secs {
                jobs.push(Job {
                    row,
                    misbehaviour: r.misbehaviour,
                    wire,
                    sec,
                    filter: filter.clone(),
                });
            }
        }
    }
    let started: Vec<Instant> = in_process.iter().map(|_| Instant::now()).collect();
    let results = pool(&jobs, |job| {
        let process = SimProcess::start(
            &binary,
            job.wire,
            job.sec,
            base.profile,
            job.misbehaviour,
            &[],
        )?;
        let req = Request {
            profile: base.profile,
            ..Request::device(
                process.dut.clone(),
                process.desc.clone(),
                job.filter.as_deref(),
            )
        };
        let run = crate::matrix::run(&req, catalogue, rt)?;
        let label = format!("external/{}/sec{}", job.wire.name(), job.sec);
        let mut not_judged = Vec::new();
        let mut reasons = BTreeSet::new();
        for r in run.columns.iter().flat_map(|c| c.results.iter()) {
            if let Verdict::NotJudged(why) = &r.verdict {
                not_judged.push(r.id.clone());
                reasons.insert(why.clone());
            }
        }
        for why in reasons {
            eprintln!("  {label}: not judged: {why}");
        }
        let caught: BTreeMap<String, Vec<String>> = failures(&run)
            .into_keys()
            .chain(
                not_judged
                    .into_iter()
                    .map(|id| format!("{id} (not judged)")),
            )
            .map(|id| (id, vec![label.clone()]))
            .collect();
        eprintln!(
            "{:<28} {label}: {} failing cases",
            job.misbehaviour
                .map_or("(well-behaved)", Misbehaviour::name),
            caught.len()
        );
        Ok(caught)
    });
    let mut rows: Vec<SelfCheckRow> = in_process
        .iter()
        .map(|r| SelfCheckRow {
            misbehaviour: r.misbehaviour,
            caught_by: BTreeMap::new(),
            seconds: 0.0,
            not_exercised: r
                .misbehaviour
                .and_then(Misbehaviour::transport)
                .filter(|t| *t != "http"),
        })
        .collect();
    for (job, result) in jobs.iter().zip(results) {
        let row = &mut rows[job.row];
        for (id, cols) in result? {
            row.caught_by.entry(id).or_default().extend(cols);
        }
        row.seconds = started[job.row].elapsed().as_secs_f64();
    }
    Ok(rows)
}
