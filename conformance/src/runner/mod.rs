//! Runs cases in one column: each case on a fresh link to the device it asks for (golden replays
//! included), in parallel as far as the device allows, no fail-fast, every case timed, progress on
//! stderr. A case during which the device crashed gets the verdict *crashed* ([`case`]); a device that
//! keeps its state between cases is looked after between them ([`kept`]: order, resets, liveness).

mod case;
mod kept;

pub use self::case::run_case;

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::case::{Case, Env};
use crate::description::Description;
use crate::dut::Dut;
use crate::model::{CaseResult, Column, ColumnReport, Verdict};
use prov_client::Profile;

/// One column to run: a device, its description, the scheme and the profile.
pub struct Plan<'a> {
    /// The device.
    pub dut: &'a dyn Dut,
    /// What the suite needs to know about it.
    pub desc: &'a Description,
    /// Expectations profile.
    pub profile: Profile,
}

/// How cases are picked.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    patterns: Vec<String>,
}

impl Filter {
    /// Comma-separated patterns; `*` matches any run of characters, matching is case-insensitive, and a
    /// pattern without `*` matches IDs that contain it. Empty = everything.
    pub fn new(spec: Option<&str>) -> Self {
        Self {
            patterns: spec
                .unwrap_or_default()
                .split(',')
                .map(|p| p.trim().to_ascii_uppercase())
                .filter(|p| !p.is_empty())
                .collect(),
        }
    }

    /// Whether case `id` is selected.
    pub fn matches(&self, id: &str) -> bool {
        let id = id.to_ascii_uppercase();
        self.patterns.is_empty() || self.patterns.iter().any(|p| glob(p, &id))
    }
}

fn glob(pattern: &str, text: &str) -> bool {
    if !pattern.contains('*') {
        return text.contains(pattern);
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    true
}

/// Progress output shared by the worker threads.
pub struct Progress {
    total: usize,
    done: AtomicUsize,
    verbose: bool,
    quiet: bool,
    tty: bool,
    out: Mutex<()>,
}

impl Progress {
    /// Progress over `total` case runs.
    pub fn new(total: usize, verbose: bool, quiet: bool) -> Self {
        Self {
            total,
            done: AtomicUsize::new(0),
            verbose,
            quiet,
            tty: std::io::stderr().is_terminal(),
            out: Mutex::new(()),
        }
    }

    /// Counts one finished case and shows it (every case with `--verbose`, else failures only).
    pub fn report(&self, column: &str, r: &CaseResult) {
        let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if self.quiet {
            return;
        }
        let _lock = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let mut err = std::io::stderr().lock();
        let line = format!(
            "[{n:>4}/{}] {:<4} {column} {} ({:.2} s)",
            self.total,
            r.verdict.word(),
            r.id,
            r.duration.as_secs_f64()
        );
        let failed = r.verdict.is_failure();
        if self.verbose || failed {
            if self.tty {
                let _ = write!(err, "\r\x1b[K");
            }
            let _ = writeln!(err, "{line}");
            if let (true, Some(why)) = (failed, r.verdict.detail()) {
                let _ = writeln!(err, "         {why}");
            }
        } else if self.tty {
            let _ = write!(err, "\r\x1b[K{line}");
        }
        let _ = err.flush();
    }

    /// Shows a message about a column, whatever the verbosity (but `quiet`).
    pub fn note(&self, column: &str, msg: &str) {
        if self.quiet {
            return;
        }
        let _lock = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[K");
        }
        let _ = writeln!(err, "{column}: {msg}");
    }

    /// Ends the progress line.
    pub fn finish(&self) {
        if self.tty && !self.verbose && !self.quiet {
            let _ = writeln!(std::io::stderr(), "\r\x1b[K");
        }
    }
}

/// Runs `cases` (already filtered) in one column.
pub fn run_column(plan: &Plan<'_>, cases: &[&Case], progress: &Progress) -> ColumnReport {
    let column = Column {
        device: plan.dut.label(),
        transport: plan.dut.transport().name().into(),
        security: plan.desc.security,
        profile: plan.profile.name().into(),
    };
    let label = column.label();
    let env = Env {
        desc: plan.desc,
        profile: plan.profile,
        transport: plan.dut.transport(),
        security: plan.desc.security,
        recordings: plan.dut.boots_recordings(),
    };
    let started = Instant::now();
    if !plan.dut.fresh_per_connect() {
        let results = kept::run(plan, cases, env, &label, progress);
        return ColumnReport {
            column,
            results,
            duration: started.elapsed(),
            board: None,
        };
    }
    let order: Vec<usize> = (0..cases.len()).collect();
    let slots: Vec<Mutex<Option<CaseResult>>> = cases.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = plan.dut.parallelism().clamp(1, cases.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = order.get(k) else { return };
                let r = run_case(plan.dut, cases[i], env);
                progress.report(&label, &r);
                *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            });
        }
    });
    let results = slots
        .into_iter()
        .zip(cases)
        .map(|(slot, case)| {
            slot.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| CaseResult {
                    id: case.id.clone(),
                    group: case.group.name().into(),
                    title: case.title.clone(),
                    verdict: Verdict::Fail("case did not run (worker thread died)".into()),
                    duration: Duration::ZERO,
                    transcript: Vec::new(),
                })
        })
        .collect();
    ColumnReport {
        column,
        results,
        duration: started.elapsed(),
        board: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_globs_and_substrings() {
        let f = Filter::new(Some("sec1-*,golden"));
        assert!(f.matches("SEC1-POP-WRONG"));
        assert!(f.matches("GOLDEN-sec0_full_flow"));
        assert!(!f.matches("SEC2-PASSWORD-WRONG"));
        assert!(Filter::new(None).matches("ANY"));
        assert!(Filter::new(Some("*-WRONG")).matches("SEC1-POP-WRONG"));
        assert!(!Filter::new(Some("*-WRONG")).matches("SEC1-POP-WRONG-RETRY"));
    }
}
