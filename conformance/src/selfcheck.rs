//! The suite's self-check: a suite is only as good as its verdicts. The simulator is run once as it
//! should behave (everything must pass) and once per deliberate misbehaviour (at least one case must
//! fail), and the table behaviour → cases that caught it is printed and written to the report dir.
//!
//! By default a misbehaviour of the core runs on the in-memory simulator (no transport, virtual time:
//! a matrix in about a second), a transport's misbehaviour over that transport, and the well-behaved
//! run over all of them. With explicit transports every row runs over those.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Instant;

use sim_device::misbehave::Misbehaviour;
use tokio::runtime::Runtime;

use crate::case::Case;
use crate::dut::DutSpec;
use crate::link::Transport;
use crate::matrix::Request;
use crate::model::{RunReport, Verdict};

/// One row of the table.
#[derive(Debug)]
pub struct Row {
    /// The misbehaviour (`None` = the well-behaved simulator).
    pub misbehaviour: Option<Misbehaviour>,
    /// Failing case ID → columns where it failed.
    pub caught_by: BTreeMap<String, Vec<String>>,
    /// Wall time of its matrix.
    pub seconds: f64,
    /// The transport the misbehaviour lives in, when the run did not include it (so nothing could
    /// catch it here).
    pub not_exercised: Option<&'static str>,
}

impl Row {
    /// The row holds as it should: the baseline has no failure, a misbehaviour at least one.
    pub fn ok(&self) -> bool {
        match self.misbehaviour {
            None => self.caught_by.is_empty(),
            Some(_) => self.not_exercised.is_some() || !self.caught_by.is_empty(),
        }
    }
}

fn failures(run: &RunReport) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for col in &run.columns {
        for r in &col.results {
            if matches!(r.verdict, Verdict::Fail(_)) {
                out.entry(r.id.clone())
                    .or_default()
                    .push(col.column.label());
            }
        }
    }
    out
}

/// How many matrices run side by side (a transport matrix mostly waits on device timers; an
/// in-memory one computes).
const PARALLEL: usize = 3;

/// The transports a row runs over: `explicit` (the user's `--transport`), or by default the in-memory
/// device for the core's misbehaviours and its own transport for a transport's. `None` when the row's
/// transport is not covered (it cannot be caught here), with that transport's name.
fn transports_for(
    m: Option<Misbehaviour>,
    explicit: Option<&[Transport]>,
    chosen: &[Misbehaviour],
) -> Result<Vec<Transport>, &'static str> {
    let own = m.and_then(Misbehaviour::transport);
    match (explicit, own) {
        (Some(ts), Some(t)) if !ts.iter().any(|x| x.name() == t) => Err(t),
        (Some(ts), _) => Ok(ts.to_vec()),
        // BLE needs the loopback: only with an explicit `--transport ble`.
        (None, Some("ble")) => Err("ble"),
        (None, Some(t)) => t.parse().map(|t| vec![t]).map_err(|_| "ble"),
        (None, None) if m.is_some() => Ok(vec![Transport::Memory]),
        // The well-behaved run covers every column a row uses.
        (None, None) => {
            let mut ts = vec![Transport::Memory];
            for t in chosen.iter().filter_map(|c| c.transport()) {
                if let Ok(t) = t.parse::<Transport>() {
                    if t != Transport::Ble && !ts.contains(&t) {
                        ts.push(t);
                    }
                }
            }
            Ok(ts)
        }
    }
}

/// Runs the well-behaved simulator and each of `chosen` (all when empty), returning the rows in that
/// order. Prints one line per row on stderr as it finishes.
pub fn rows(
    base: &Request,
    explicit: Option<&[Transport]>,
    chosen: &[Misbehaviour],
    catalogue: &[Case],
    rt: &Arc<Runtime>,
) -> Result<Vec<Row>, String> {
    if base.dut != DutSpec::Sim {
        return Err("self-check runs against the embedded simulator only".into());
    }
    let chosen: Vec<Misbehaviour> = if chosen.is_empty() {
        Misbehaviour::ALL.to_vec()
    } else {
        chosen.to_vec()
    };
    let all: Vec<Option<Misbehaviour>> = std::iter::once(None)
        .chain(chosen.iter().copied().map(Some))
        .collect();
    let one = |m: Option<Misbehaviour>| -> Result<Row, String> {
        // A transport's misbehaviour can only be caught over that transport.
        let transports = match transports_for(m, explicit, &chosen) {
            Ok(ts) => ts,
            Err(t) => {
                eprintln!(
                    "{:<28} not exercised (lives in the {t} transport; add --transport {t})",
                    m.map_or("", Misbehaviour::name)
                );
                return Ok(Row {
                    misbehaviour: m,
                    caught_by: BTreeMap::new(),
                    seconds: 0.0,
                    not_exercised: Some(t),
                });
            }
        };
        let mut req = base.clone();
        req.transports = transports;
        req.misbehave = m.into_iter().collect();
        req.quiet = true;
        let t = Instant::now();
        let run = crate::matrix::run(&req, catalogue, rt)?;
        let row = Row {
            misbehaviour: m,
            caught_by: failures(&run),
            seconds: t.elapsed().as_secs_f64(),
            not_exercised: None,
        };
        eprintln!(
            "{:<28} {} ({} failing cases, {:.1} s)",
            m.map_or("(well-behaved)", Misbehaviour::name),
            if row.ok() { "ok" } else { "NOT OK" },
            row.caught_by.len(),
            row.seconds
        );
        Ok(row)
    };
    // A pool of workers, not chunks: one slow transport row must not hold back the in-memory ones.
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<Row, String>>>> =
        all.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..PARALLEL {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&m) = all.get(i) else { return };
                let row = one(m);
                *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(row);
            });
        }
    });
    let mut rows = Vec::new();
    for slot in slots {
        let row = slot.into_inner().unwrap_or_else(|p| p.into_inner());
        rows.push(row.unwrap_or_else(|| Err("self-check worker died".into()))?);
    }
    Ok(rows)
}

/// Runs the self-check, prints the table and writes it to `self-check.md` in the report dir. Returns
/// whether every row holds.
pub fn run(
    base: &Request,
    explicit: Option<&[Transport]>,
    chosen: &[Misbehaviour],
    catalogue: &[Case],
    report_dir: &Path,
    rt: &Arc<Runtime>,
) -> Result<bool, String> {
    let rows = rows(base, explicit, chosen, catalogue, rt)?;
    let table = render(&rows);
    println!("{table}");
    let path = report_dir.join("self-check.md");
    std::fs::create_dir_all(report_dir)
        .and_then(|()| std::fs::write(&path, &table))
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    println!("table written to {}", path.display());
    Ok(rows.iter().all(Row::ok))
}

/// The table as Markdown (also readable in a terminal).
pub fn render(rows: &[Row]) -> String {
    let mut s = String::from("# Self-check: simulator misbehaviour → cases that caught it\n\n");
    s.push_str("| misbehaviour | verdict | caught by (case IDs, columns) |\n|---|---|---|\n");
    for r in rows {
        let (name, what) = match r.misbehaviour {
            Some(m) => (m.name().to_owned(), m.description()),
            None => (
                "(well-behaved)".to_owned(),
                "no misbehaviour: every case must pass",
            ),
        };
        let verdict = match (r.misbehaviour, r.ok(), r.not_exercised) {
            (Some(_), _, Some(t)) => match t {
                "ble" => "not exercised: run with `--transport ble --ble-mtu 23`",
                _ => "not exercised: add its transport with `--transport`",
            },
            (None, true, _) => "all pass",
            (None, false, _) => "**FAILURES**",
            (Some(_), true, _) => "caught",
            (Some(_), false, _) => "**NOT CAUGHT**",
        };
        let cases = r
            .caught_by
            .iter()
            .map(|(id, cols)| format!("`{id}` ({})", cols.join(", ")))
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = writeln!(s, "| `{name}` — {what} | {verdict} | {cases} |");
    }
    s
}
