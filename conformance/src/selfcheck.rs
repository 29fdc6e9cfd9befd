//! The suite's self-check: a suite is only as good as its verdicts. The simulator is run once as it
//! should behave (everything must pass) and once per deliberate misbehaviour (at least one case must
//! fail), and the table behaviour → cases that caught it is printed and written to the report dir.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use sim_device::misbehave::Misbehaviour;
use tokio::runtime::Runtime;

use crate::case::Case;
use crate::cli::{misbehaviours, RunArgs};
use crate::dut::DutSpec;
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

/// How many matrices run side by side (each is mostly waiting on device timers).
const PARALLEL: usize = 3;

/// Runs the well-behaved simulator and each misbehaviour (`only` restricts them), returning the rows in
/// that order. Prints one line per row on stderr as it finishes.
pub fn rows(
    args: &RunArgs,
    only: &[String],
    catalogue: &[Case],
    rt: &Arc<Runtime>,
) -> Result<Vec<Row>, String> {
    if args.dut != DutSpec::Sim {
        return Err("self-check runs against the embedded simulator only".into());
    }
    let chosen: Vec<Option<Misbehaviour>> = if only.is_empty() {
        Misbehaviour::ALL.iter().copied().map(Some).collect()
    } else {
        misbehaviours(only)?.into_iter().map(Some).collect()
    };
    let all: Vec<Option<Misbehaviour>> = std::iter::once(None).chain(chosen).collect();
    let base = args.request()?;
    let one = |m: Option<Misbehaviour>| -> Result<Row, String> {
        // A transport's misbehaviour can only be caught over that transport.
        let absent = m
            .and_then(Misbehaviour::transport)
            .filter(|t| !base.transports.iter().any(|x| x.name() == *t));
        if let Some(t) = absent {
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
        let mut req = base.clone();
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
    let mut rows = Vec::new();
    for chunk in all.chunks(PARALLEL) {
        let done: Vec<Result<Row, String>> = std::thread::scope(|s| {
            let hs: Vec<_> = chunk.iter().map(|&m| s.spawn(move || one(m))).collect();
            hs.into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("self-check thread panicked".into()))
                })
                .collect()
        });
        for r in done {
            rows.push(r?);
        }
    }
    Ok(rows)
}

/// Runs the self-check, prints the table and writes it to `self-check.md` in the report dir. Returns
/// whether every row holds.
pub fn run(
    args: &RunArgs,
    only: &[String],
    catalogue: &[Case],
    rt: &Arc<Runtime>,
) -> Result<bool, String> {
    let rows = rows(args, only, catalogue, rt)?;
    let table = render(&rows);
    println!("{table}");
    let path = args.report_dir.join("self-check.md");
    std::fs::create_dir_all(&args.report_dir)
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
