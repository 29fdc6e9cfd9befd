//! A run over a rack: every selected board on a thread of its own, each locked, set up ([`Board`]),
//! judged over each transport of its firmware (a column of the conformance matrix, locking the host
//! radio it needs), and released. A board that cannot be set up, or dies, is reported with its reason
//! and console log and does not stop the others.
//!
//! Every column starts with the case `HIL-BOARD`: the board was present, flashed, booted and ready,
//! and was still there at the end. When it fails, the column's cases are *not judged*.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use conformance::case::Case;
use conformance::description::Description;
use conformance::model::{BoardReport, CaseResult, Column, ColumnReport, RunReport, Verdict};
use conformance::runner::{self, Filter, Plan, Progress};
use prov_client::Profile;

use crate::backend::power::HostPower;
use crate::backend::probe::ProbeRs;
use crate::backend::serial::SerialConsole;
use crate::backend::serial_flash::SerialFlash;
use crate::backend::BoardControl;
use crate::board::{self, Board};
use crate::console::Console;
use crate::dut::BoardDut;
use crate::firmware::Bundle;
use crate::inventory::check::radio_for;
use crate::inventory::{BoardSpec, Capability, ConsoleKind, Rack, RadioKind};
use crate::lock::Lock;
use crate::virtual_board;

/// How long a run waits for a host radio another board (or run) is using.
const RADIO_WAIT: Duration = Duration::from_secs(600);

/// What a run is given.
pub struct RunOptions<'a> {
    /// The inventory.
    pub rack: &'a Rack,
    /// Boards to run (all when empty).
    pub boards: Vec<String>,
    /// Cases (the whole catalogue when `None`).
    pub filter: Option<String>,
    /// The catalogue.
    pub catalogue: &'a [Case],
    /// Where boards keep state (virtual flash, flash records).
    pub work_dir: PathBuf,
    /// Lock files.
    pub lock_dir: PathBuf,
    /// The program of virtual boards' applications.
    pub sim_device: PathBuf,
    /// Every case on stderr, not only failures.
    pub verbose: bool,
}

/// What a run produced: the run (boards as columns) and each board's whole console log.
pub struct RackRun {
    /// The conformance run.
    pub run: RunReport,
    /// `(board id, console log)`.
    pub logs: Vec<(String, String)>,
}

/// The boards `opts` selects, or an error naming the unknown ones.
pub fn selected<'a>(rack: &'a Rack, wanted: &[String]) -> Result<Vec<&'a BoardSpec>, String> {
    if let Some(bad) = wanted
        .iter()
        .find(|w| !rack.boards.iter().any(|b| &&b.id == w))
    {
        let ids: Vec<&str> = rack.boards.iter().map(|b| b.id.as_str()).collect();
        return Err(format!(
            "no board {bad:?} in {}; it has {}",
            rack.file.display(),
            ids.join(", ")
        ));
    }
    Ok(rack
        .boards
        .iter()
        .filter(|b| wanted.is_empty() || wanted.contains(&b.id))
        .collect())
}

/// Runs the selected boards in parallel.
pub fn run(opts: &RunOptions<'_>) -> Result<RackRun, String> {
    let started_at = std::time::SystemTime::now();
    let started = Instant::now();
    let boards = selected(opts.rack, &opts.boards)?;
    let filter = Filter::new(opts.filter.as_deref());
    let cases: Vec<&Case> = opts
        .catalogue
        .iter()
        .filter(|c| filter.matches(&c.id))
        .collect();
    if cases.is_empty() {
        return Err(format!(
            "the filter {:?} selects no case; `conformance list` shows the IDs",
            opts.filter.as_deref().unwrap_or_default()
        ));
    }
    let columns: usize = boards.iter().map(|b| b.firmware.transports.len()).sum();
    let progress = Progress::new(columns * (cases.len() + 1), opts.verbose, false);
    // Virtual BLE boards each advertise on a loopback adapter of their own; hci0 is the host's.
    let mut next_adapter = 1;
    let plans: Vec<(&BoardSpec, Option<String>)> = boards
        .iter()
        .map(|b| {
            let adapter = (b.virtual_board.is_some()
                && b.firmware.transports.contains(&Capability::Ble))
            .then(|| {
                next_adapter += 1;
                format!("hci{}", next_adapter - 1)
            });
            (*b, adapter)
        })
        .collect();
    let results: Vec<(Vec<ColumnReport>, (String, String))> = std::thread::scope(|s| {
        let handles: Vec<_> = plans
            .iter()
            .map(|(spec, adapter)| {
                let (progress, cases) = (&progress, &cases);
                s.spawn(move || one_board(opts, spec, adapter.clone(), cases, progress))
            })
            .collect();
        handles
            .into_iter()
            .zip(&plans)
            .map(|(h, (spec, _))| {
                h.join().unwrap_or_else(|_| {
                    let why = "the board's thread panicked (hil bug)".to_owned();
                    (
                        failed_columns(spec, cases.as_slice(), &why, String::new()),
                        (spec.id.clone(), why),
                    )
                })
            })
            .collect()
    });
    progress.finish();
    let mut run = RunReport {
        tool: format!("provlab-hil {}", env!("CARGO_PKG_VERSION")),
        started: conformance::matrix::rfc3339(started_at),
        duration: started.elapsed(),
        filter: opts.filter.clone(),
        columns: Vec::new(),
    };
    let mut logs = Vec::new();
    for (cols, log) in results {
        run.columns.extend(cols);
        logs.push(log);
    }
    Ok(RackRun { run, logs })
}

/// One board, start to end: its columns and its whole console log.
fn one_board(
    opts: &RunOptions<'_>,
    spec: &BoardSpec,
    ble_adapter: Option<String>,
    cases: &[&Case],
    progress: &Progress,
) -> (Vec<ColumnReport>, (String, String)) {
    let id = spec.id.clone();
    let who = format!("hil on {} (board {id})", opts.rack.host);
    let lock = Lock::acquire(
        &opts.lock_dir,
        &format!("board-{}-{id}", opts.rack.host),
        Duration::ZERO,
        &who,
    );
    let board = match lock.and_then(|l| setup(opts, spec, ble_adapter.clone()).map(|b| (l, b))) {
        Ok((lock, board)) => (lock, board),
        Err(why) => {
            progress.note(&id, &format!("not set up: {why}"));
            return (failed_columns(spec, cases, &why, String::new()), (id, why));
        }
    };
    let (_lock, board) = board;
    let board = Arc::new(board);
    progress.note(&id, &format!("setting up ({})", board.console.describe()));
    let setup_started = Instant::now();
    let prepared = board.prepare();
    let mut columns = Vec::new();
    if let Err(why) = prepared {
        let why = format!("board {id} could not be set up: {why}");
        progress.note(&id, &why);
        let log = board.log_since(0);
        for mut c in failed_columns(spec, cases, &why, log.clone()) {
            if let Some(b) = c.board.as_mut() {
                b.properties = board.facts();
            }
            columns.push(c);
        }
        return (columns, (id, log));
    }
    progress.note(
        &id,
        &format!(
            "ready as {} after {:.1} s",
            board.service_name().unwrap_or_default(),
            setup_started.elapsed().as_secs_f64()
        ),
    );
    let mut from = 0;
    for &transport in &spec.firmware.transports {
        let col = column(opts, &board, transport, cases, progress, from);
        from = board.console.mark();
        columns.push(col);
    }
    board.console.note("released");
    let log = board.log_since(0);
    (columns, (id, log))
}

/// Builds the board's parts and opens its console.
fn setup(
    opts: &RunOptions<'_>,
    spec: &BoardSpec,
    ble_adapter: Option<String>,
) -> Result<Board, String> {
    let bundle = Bundle::load(&spec.firmware.flasher_args)?;
    let desc = Description::load(&spec.firmware.device)?;
    let dir = opts.work_dir.join(&opts.rack.host).join(&spec.id);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let parts = if spec.virtual_board.is_some() {
        virtual_board::build(spec, &dir, opts.sim_device.clone(), ble_adapter)?
    } else {
        let c = spec.console.clone().ok_or("no console in the inventory")?;
        let record = dir.join("flashed.sha256");
        let control: Box<dyn BoardControl> = match &spec.probe {
            Some(sel) => Box::new(ProbeRs::new(sel, spec.chip.name(), record)),
            None => Box::new(SerialFlash::new(c.path.clone(), spec.chip.name(), record)),
        };
        virtual_board::Parts {
            control,
            console: Box::new(SerialConsole {
                path: c.path.clone(),
                baud: c.baud,
                release_lines: c.kind == ConsoleKind::UartBridge,
            }),
            power: Box::new(HostPower {
                console: c.path.clone(),
                spec: spec.power.clone(),
            }),
            softap: spec
                .firmware
                .softap
                .unwrap_or_else(|| ([192, 168, 4, 1], 80).into()),
        }
    };
    let console = Console::open(parts.console)?;
    Ok(Board::new(
        spec.clone(),
        bundle,
        desc,
        console,
        parts.softap,
        parts.control,
        parts.power,
    ))
}
/// One transport's column on a ready board.
fn column(
    opts: &RunOptions<'_>,
    board: &Arc<Board>,
    transport: Capability,
    cases: &[&Case],
    progress: &Progress,
    log_from: usize,
) -> ColumnReport {
    let spec = &board.spec;
    let profile: Profile = board
        .desc
        .profile
        .as_deref()
        .and_then(|p| p.parse().ok())
        .unwrap_or_default();
    let started = Instant::now();
    let outcome = (|| {
        let kind = match transport {
            Capability::Ble => Some((RadioKind::Ble, spec.ble_radio.as_deref())),
            Capability::Softap => Some((RadioKind::Wifi, spec.wifi_radio.as_deref())),
            Capability::Console => None,
        };
        let radio = kind.map(|(k, n)| radio_for(opts.rack, k, n)).transpose()?;
        let _radio_lock = match radio {
            Some(r) => Some(Lock::acquire(
                &opts.lock_dir,
                &format!("radio-{}-{}", opts.rack.host, r.name),
                RADIO_WAIT,
                &format!("hil board {}", spec.id),
            )?),
            None => None,
        };
        let ssid = board.service_name().unwrap_or_default();
        if let Some(r) = radio {
            board::join(r, &ssid)?;
        }
        let adapter = radio.and_then(|r| r.adapter.as_deref());
        let dut = BoardDut::new(Arc::clone(board), transport, profile, adapter)?;
        let plan = Plan {
            dut: &dut,
            desc: &board.desc,
            profile,
        };
        let report = runner::run_column(&plan, cases, progress);
        if let Some(r) = radio {
            let _ = board::leave(r, &ssid);
        }
        Ok::<_, String>(report)
    })();
    let gone = board.console.reboots().gone;
    let (mut col, board_verdict) = match outcome {
        Ok(col) => {
            let v = match gone {
                Some(why) => Verdict::Fail(format!(
                    "the board's console went away during the run: {why}"
                )),
                None => Verdict::Pass,
            };
            (col, v)
        }
        Err(why) => {
            let why = format!(
                "board {} could not be judged over {}: {why}",
                spec.id,
                transport.name()
            );
            let mut cols = failed_columns(spec, cases, &why, String::new());
            (cols.remove(0), Verdict::Fail(why))
        }
    };
    let hil = hil_case(board_verdict);
    progress.report(&col.column.label(), &hil);
    col.results.insert(0, hil);
    col.duration = started.elapsed();
    col.board = Some(BoardReport {
        id: spec.id.clone(),
        chip: spec.chip.name().into(),
        properties: board.facts(),
        log: board.log_since(log_from),
    });
    col
}

/// The id of the pseudo-case that judges the board itself.
pub const BOARD_CASE: &str = "HIL-BOARD";

fn hil_case(verdict: Verdict) -> CaseResult {
    CaseResult {
        id: BOARD_CASE.into(),
        group: "hil".into(),
        title: "the board was present, flashed, booted and ready, and still there at the end"
            .into(),
        verdict,
        duration: Duration::ZERO,
        transcript: Vec::new(),
    }
}

/// Columns for a board that could not be judged: `HIL-BOARD` failed, every case not judged.
fn failed_columns(spec: &BoardSpec, cases: &[&Case], why: &str, log: String) -> Vec<ColumnReport> {
    let transports = if spec.firmware.transports.is_empty() {
        vec![Capability::Console]
    } else {
        spec.firmware.transports.clone()
    };
    let (security, profile) = Description::load(&spec.firmware.device)
        .map(|d| {
            (
                d.security,
                d.profile
                    .unwrap_or_else(|| Profile::default().name().into()),
            )
        })
        .unwrap_or_default();
    transports
        .into_iter()
        .map(|t| {
            let mut results = vec![hil_case(Verdict::Fail(why.to_owned()))];
            results.extend(cases.iter().map(|c| CaseResult {
                id: c.id.clone(),
                group: c.group.name().into(),
                title: c.title.clone(),
                verdict: Verdict::NotJudged(why.to_owned()),
                duration: Duration::ZERO,
                transcript: Vec::new(),
            }));
            ColumnReport {
                column: Column {
                    device: spec.id.clone(),
                    transport: match t {
                        Capability::Softap => "http",
                        Capability::Console => "serial",
                        Capability::Ble => "ble",
                    }
                    .into(),
                    security,
                    profile: profile.clone(),
                },
                results,
                duration: Duration::ZERO,
                board: Some(BoardReport {
                    id: spec.id.clone(),
                    chip: spec.chip.name().into(),
                    properties: Vec::new(),
                    log: log.clone(),
                }),
            }
        })
        .collect()
}

/// Writes each board's JUnit file and whole console log under `dir/boards/<id>/`.
pub fn write_boards(r: &RackRun, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (id, log) in &r.logs {
        let bdir = dir.join("boards").join(id);
        std::fs::create_dir_all(&bdir)?;
        let mine = RunReport {
            columns: r
                .run
                .columns
                .iter()
                .filter(|c| c.board.as_ref().is_some_and(|b| &b.id == id))
                .cloned()
                .collect(),
            ..r.run.clone()
        };
        let junit = bdir.join("junit.xml");
        std::fs::write(&junit, conformance::report::render_junit(&mine))?;
        std::fs::write(bdir.join("console.log"), log)?;
        written.push(junit);
    }
    Ok(written)
}
