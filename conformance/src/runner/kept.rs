//! A device that keeps its state between cases (a board, `http://…`, a long-running implementation):
//! cases run one at a time, least disturbing first (by [`Leaves`]), and between them the runner looks
//! after the device:
//! - **reset**: after a case that left something behind, the DUT's own [`Custody`](crate::dut::Custody)
//!   (a HIL board: erase, reset, wait for its readiness line) or else the device file's `[reset]` brings
//!   it back to "freshly booted, not provisioned" (the simulator's control channel, a command, a console
//!   line);
//!   with no way to reset, every case after one that applied credentials or stopped the service is
//!   *not judged* (it would judge the leftovers, not the device) instead of failed;
//! - **liveness and crashes**: after every case the device must keep its boot count (where the control
//!   channel or the custodian's console watch tells it) and, after a case that did not pass, still answer `proto-ver`; otherwise the
//!   case's verdict is *crashed*, and the device is reset or waited for;
//! - **a dead device** stops the column with one message: the cases left are *not judged*, and the run
//!   ends within the reply timeout.

use std::process::Command;
use std::time::{Duration, Instant};

use super::case::{crash_detail, run_case};
use super::Plan;
use super::Progress;
use crate::case::{Case, Env, Leaves};
use crate::description::Description;
use crate::dut::control::Control;
use crate::dut::{Boot, Dut, Reboots};
use crate::link::Access;
use crate::model::{Answer, CaseResult, Verdict};

/// How long a device gets to notice that the liveness probe's connection closed.
const PROBE_SETTLE: Duration = Duration::from_millis(200);

/// Runs `cases` on a device that keeps its state; results in catalogue order.
pub(super) fn run(
    plan: &Plan<'_>,
    cases: &[&Case],
    env: Env<'_>,
    label: &str,
    progress: &Progress,
) -> Vec<CaseResult> {
    let keeper = Keeper::new(plan.dut, plan.desc);
    let mut order: Vec<usize> = (0..cases.len()).collect();
    order.sort_by_key(|&i| cases[i].leaves);
    let mut results: Vec<Option<CaseResult>> = cases.iter().map(|_| None).collect();
    // What the device was left with, and by which case.
    let mut changed: Option<(Leaves, String)> = None;
    // Why the device can no longer be judged.
    let mut dead: Option<String> = match keeper.alive() {
        Ok(()) => None,
        Err(why) => {
            let msg = format!("the device does not answer before any case: {why}");
            progress.note(label, &msg);
            Some(msg)
        }
    };
    let mut first = true;
    for i in order {
        let case = cases[i];
        let verdict_only = |verdict: Verdict| CaseResult {
            id: case.id.clone(),
            group: case.group.name().into(),
            title: case.title.clone(),
            verdict,
            duration: Duration::ZERO,
            transcript: Vec::new(),
        };
        let r = if let Some(why) = (case.applies)(&env) {
            verdict_only(Verdict::Skip(why))
        } else if let Some(why) = &dead {
            // The first case carries the failure, so the run fails; the rest are not judged.
            let v = if std::mem::take(&mut first) {
                Verdict::Fail(why.clone())
            } else {
                Verdict::NotJudged(why.clone())
            };
            verdict_only(v)
        } else if let Some(verdict) = prepare(&keeper, &mut changed, &mut dead, label, progress) {
            verdict_only(verdict)
        } else {
            first = false;
            let r = judge(&keeper, case, env, &mut dead, label, progress);
            if matches!(r.verdict, Verdict::Crashed(_)) {
                // A crash is a reboot: what the device held in memory is gone.
                changed = None;
            } else if case.leaves > Leaves::Nothing
                && changed.as_ref().is_none_or(|c| case.leaves > c.0)
            {
                changed = Some((case.leaves, case.id.clone()));
            }
            r
        };
        progress.report(label, &r);
        results[i] = Some(r);
    }
    results.into_iter().flatten().collect()
}

/// Before a case: reset the device if an earlier one left something behind. `Some(verdict)` when the
/// case cannot be judged: a device that stops answering when reset fails this case (the one message;
/// the ones after it are not judged), one that cannot be reset leaves it not judged.
fn prepare(
    keeper: &Keeper<'_>,
    changed: &mut Option<(Leaves, String)>,
    dead: &mut Option<String>,
    label: &str,
    progress: &Progress,
) -> Option<Verdict> {
    let (left, by) = changed.as_ref()?;
    if keeper.can_reset() {
        match keeper.reset() {
            Ok(()) => {
                *changed = None;
                None
            }
            Err(e) => {
                let msg = format!("the device could not be reset after {by}: {e}");
                progress.note(label, &msg);
                *dead = Some(msg.clone());
                Some(Verdict::Fail(msg))
            }
        }
    } else if *left >= Leaves::Applied {
        Some(Verdict::NotJudged(format!(
            "{by} left the device with {} and the device file gives no way to reset it ([reset] control, command or console)",
            left.name()
        )))
    } else {
        // Scan results and staged credentials: the cases after them set their own (they are ordered so).
        None
    }
}

/// Runs the case and checks the device lived through it.
fn judge(
    keeper: &Keeper<'_>,
    case: &Case,
    env: Env<'_>,
    dead: &mut Option<String>,
    label: &str,
    progress: &Progress,
) -> CaseResult {
    let before = keeper.marks();
    let mut r = run_case(keeper.dut, case, env);
    if !matches!(r.verdict, Verdict::Crashed(_)) {
        // A case that passed had the device answer to its end; a probe would only disturb it (a
        // SoftAP device opens a session for it, and clears the socket session when it notices the
        // probe's connection close, possibly under the next case).
        // The probe goes first: a console shows a panic a moment after the request that caused it.
        let probe = !matches!(r.verdict, Verdict::Pass | Verdict::Skip(_));
        let silent = probe.then(|| keeper.alive().err()).flatten();
        let how = before
            .changed(&keeper.marks())
            .or_else(|| silent.map(|why| format!("it stopped answering ({why})")));
        if let Some(how) = how {
            r.verdict = Verdict::Crashed(crash_detail(&how, &r.transcript, &r.verdict));
        }
    }
    if matches!(r.verdict, Verdict::Crashed(_)) {
        let back = if keeper.can_reset() {
            keeper.reset()
        } else {
            keeper.alive()
        };
        if let Err(why) = back {
            let msg = format!(
                "the device crashed in {} and did not come back: {why}",
                case.id
            );
            progress.note(label, &msg);
            *dead = Some(msg);
        }
    }
    r
}

/// What showed whether the device rebooted, taken before and after a case.
struct Marks {
    boot: Option<u64>,
    reboots: Option<Reboots>,
}

impl Marks {
    /// How the device showed a reboot (or a vanished output) between `self` and `later`.
    fn changed(&self, later: &Self) -> Option<String> {
        if let (Some(a), Some(b)) = (self.boot, later.boot) {
            if a != b {
                return Some(format!(
                    "its boot count went from {a} to {b} (control channel)"
                ));
            }
        }
        let (Some(a), Some(b)) = (&self.reboots, &later.reboots) else {
            return None;
        };
        if let (None, Some(gone)) = (&a.gone, &b.gone) {
            return Some(format!("its console vanished ({gone})"));
        }
        (b.count > a.count).then(|| match &b.last {
            Some(line) => format!("its console shows it rebooted: `{line}`"),
            None => "its console shows it rebooted".to_owned(),
        })
    }
}

/// What the runner knows about looking after the device.
struct Keeper<'a> {
    dut: &'a dyn Dut,
    desc: &'a Description,
    control: Option<Control>,
}

impl<'a> Keeper<'a> {
    fn new(dut: &'a dyn Dut, desc: &'a Description) -> Self {
        let control = desc
            .reset
            .control
            .as_deref()
            .and_then(|c| Control::new(c, desc.reply_timeout()).ok());
        Self { dut, desc, control }
    }

    fn can_reset(&self) -> bool {
        self.dut.custody().is_some() || self.desc.reset.available()
    }

    /// What tells a reboot: the control channel's boot count, the custodian's count of reboots.
    fn marks(&self) -> Marks {
        Marks {
            boot: self.control.as_ref().and_then(|c| c.boot().ok()),
            reboots: self.dut.custody().map(|c| c.reboots()),
        }
    }

    /// Whether the device answers `proto-ver`, retried until the reply timeout.
    fn alive(&self) -> Result<(), String> {
        let deadline = Instant::now() + self.desc.reply_timeout();
        loop {
            let last = match self.dut.connect(&Boot::Standard) {
                Ok(mut link) => match link.request("proto-ver", b"---") {
                    Ok(Answer::Data(_)) => {
                        drop(link);
                        // Let the device see the probe's connection close before the next case.
                        std::thread::sleep(PROBE_SETTLE);
                        return Ok(());
                    }
                    Ok(Answer::NoResponse(how)) => format!("proto-ver got no response ({how})"),
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(last);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Brings the device back to "freshly booted, not provisioned", then waits until it answers.
    fn reset(&self) -> Result<(), String> {
        let r = &self.desc.reset;
        if let Some(custody) = self.dut.custody() {
            custody.reset()?;
        } else if let Some(cmd) = &r.command {
            let st = Command::new("sh")
                .args(["-c", cmd])
                .status()
                .map_err(|e| format!("[reset] command {cmd:?}: {e}"))?;
            if !st.success() {
                return Err(format!("[reset] command {cmd:?} exited with {st}"));
            }
        } else if let Some(line) = &r.console {
            let mut link = self
                .dut
                .connect(&Boot::Standard)
                .map_err(|e| e.to_string())?;
            match link.access() {
                Access::Line(l) => {
                    l.raw(format!("{line}\r").as_bytes(), Duration::from_millis(500))
                        .map_err(|e| format!("[reset] console {line:?}: {e}"))?;
                }
                _ => return Err("[reset] console needs a console or serial device".into()),
            }
        } else if let Some(c) = &self.control {
            c.factory_reset()?;
        } else {
            return Err("the device file gives no way to reset the device".into());
        }
        self.alive()
    }
}
