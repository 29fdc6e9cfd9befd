//! The suite's self-check: a suite is only as good as its verdicts. The simulator is run once as it
//! should behave (everything must pass) and once per deliberate misbehaviour (at least one case must
//! fail); the rows say which cases caught each (the report module renders them as `self-check.md`).
//!
//! By default a misbehaviour of the core runs on the in-memory simulator (no transport, virtual time:
//! a matrix in about a second), a transport's misbehaviour over that transport, and the well-behaved
//! run over all of them. With explicit transports every row runs over those.

use std::collections::BTreeMap;
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
use crate::model::{RunReport, SelfCheckRow};

pub mod external;

/// Failing case ID → the columns where it failed.
fn failures(run: &RunReport) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for col in &run.columns {
        for r in &col.results {
            if r.verdict.is_failure() {
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

/// Runs `f` on every item, [`PARALLEL`] at a time, and returns the results in item order. A pool of
/// workers, not chunks: one slow matrix must not hold back the quick ones.
pub(crate) fn pool<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R, String> + Sync,
) -> Vec<Result<R, String>> {
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<R, String>>>> =
        items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..PARALLEL {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { return };
                let r = f(item);
                *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| Err("self-check worker died".into()))
        })
        .collect()
}

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
) -> Result<Vec<SelfCheckRow>, String> {
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
    let one = |&m: &Option<Misbehaviour>| -> Result<SelfCheckRow, String> {
        // A transport's misbehaviour can only be caught over that transport.
        let transports = match transports_for(m, explicit, &chosen) {
            Ok(ts) => ts,
            Err(t) => {
                eprintln!(
                    "{:<28} not exercised (lives in the {t} transport; add --transport {t})",
                    m.map_or("", Misbehaviour::name)
                );
                return Ok(SelfCheckRow {
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
        let row = SelfCheckRow {
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
    for row in pool(&all, one) {
        rows.push(row?);
    }
    Ok(rows)
}
