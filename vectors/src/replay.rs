//! Replays one checked [`Scenario`] against a fresh [`sim_device::Device`] and judges every step.
//!
//! Transport semantics are those of ESP-IDF's console transport (`protocomm_console.c`), which the
//! oracle used: when a request carries a session id different from the previous request's, a new
//! transport session is opened first (dropping the previous secure session).
//!
//! Virtual time starts at a fixed base instant and only moves when the device defers a reply (e.g. a
//! blocking Wi-Fi scan, which advances time to each of the device's timers until the reply is ready)
//! or at an `advance` directive (every device timer due within the interval fires, in order): both
//! through the core's drive loop, `Device::advance`.

use std::time::{Duration, Instant};

use sim_device::device::MAX_EXPIRIES;
use sim_device::{Device, NoResponse, Reply, Stall, Until};

use crate::compare;
use crate::error::VectorError;
use crate::report::{esp_err_name, Mismatch, Outcome, ScenarioReport, StepLog};
use crate::schema::{AdvanceStep, Expected, RequestStep, Scenario, Step};
use crate::setup::{self, RecordedDraw};

/// Replays `scenario` from a freshly started device and reports how each step compared.
///
/// Returns an error only when the scenario's inputs cannot be turned into a device configuration;
/// device behaviour that differs from the recording is reported in the [`ScenarioReport`].
pub fn replay_scenario(scenario: &Scenario) -> Result<ScenarioReport, VectorError> {
    let invalid = |detail: String| VectorError::Invalid {
        origin: scenario.origin.clone(),
        detail,
    };
    let config = setup::device_config(&scenario.file.inputs).map_err(invalid)?;
    let draws = setup::recorded_draws(&scenario.file).map_err(invalid)?;
    let rng = setup::recorded_rng(&draws);

    let start = Instant::now();
    let mut device = Device::new(config, Box::new(rng.clone()), start);
    let mut startup_events = drain_events(&mut device);
    let mut run = Run {
        now: start,
        device,
        last_session: None,
    };

    let mut report = ScenarioReport {
        name: scenario.name().to_owned(),
        origin: scenario.origin.clone(),
        steps_total: scenario.steps.len(),
        steps_passed: 0,
        mismatches: Vec::new(),
        rng_problems: Vec::new(),
        log: Vec::new(),
    };

    for step in &scenario.steps {
        let (mut log, mismatch) = match step {
            Step::Request(req) => run.request(req),
            Step::Advance(adv) => run.advance(adv),
        };
        if !startup_events.is_empty() {
            startup_events.append(&mut log.events);
            log.events = std::mem::take(&mut startup_events);
        }
        if let Some(note) = rng_progress_note(&draws, step.number(), draws.len() - rng.remaining())
        {
            log.events.push(note);
        }
        match mismatch {
            None => report.steps_passed += 1,
            Some(m) => report.mismatches.push(m),
        }
        report.log.push(log);
    }

    report.rng_problems = rng.problems();
    let left = rng.remaining();
    if left > 0 {
        let unused: Vec<&str> = draws[draws.len().saturating_sub(left)..]
            .iter()
            .map(|d| d.label.as_str())
            .collect();
        report.rng_problems.push(format!(
            "{left} recorded device random value(s) were never drawn (the oracle drew them): {}",
            unused.join(", ")
        ));
    }
    Ok(report)
}

/// When the vector's trace tells at which step each value was drawn, compares that with how many
/// values the device has drawn so far, and describes a difference.
fn rng_progress_note(draws: &[RecordedDraw], step: u32, drawn: usize) -> Option<String> {
    if draws.iter().any(|d| d.step == 0) {
        return None;
    }
    let expected = draws.iter().filter(|d| d.step <= step).count();
    (expected != drawn).then(|| {
        format!(
            "harness: after this step the oracle had drawn {expected} recorded random value(s), the device {drawn}"
        )
    })
}

/// Mutable replay state.
struct Run {
    now: Instant,
    device: Device,
    last_session: Option<u32>,
}

impl Run {
    fn device(&mut self) -> &mut Device {
        &mut self.device
    }

    fn request(&mut self, req: &RequestStep) -> (StepLog, Option<Mismatch>) {
        let mut events = Vec::new();
        if self.last_session != Some(req.session_id) {
            events.push(format!("harness: open_session({})", req.session_id));
            let device = self.device();
            device.open_session(req.session_id);
            events.extend(drain_events(device));
            self.last_session = Some(req.session_id);
        }
        let actual = self.exchange(req, &mut events);
        let mismatch = judge(req, &actual);
        let log = StepLog {
            step: req.step,
            what: format!("{} (session {})", req.endpoint, req.session_id),
            passed: mismatch.is_none(),
            summary: actual.to_string(),
            events,
        };
        (log, mismatch)
    }

    /// Sends the request and obtains the device's outcome, waiting out a deferred reply.
    fn exchange(&mut self, req: &RequestStep, events: &mut Vec<String>) -> Outcome {
        let now = self.now;
        let device = self.device();
        let first = device.handle(&req.endpoint, req.session_id, &req.request, now);
        events.extend(drain_events(device));
        match first {
            Ok(Reply::Ready(bytes)) => Outcome::Response(bytes),
            Err(e) => error_outcome(&e),
            Ok(Reply::Deferred) => self.wait_deferred(events),
        }
    }

    fn wait_deferred(&mut self, events: &mut Vec<String>) -> Outcome {
        let start = self.now;
        let done = self.device.advance(self.now, Until::Reply);
        self.now = done.now;
        events.extend(done.events.iter().map(|ev| format!("event: {ev:?}")));
        match (done.replies.into_iter().next(), done.stalled) {
            (Some(reply), _) => {
                events.push(format!(
                    "harness: deferred reply after {} ms of virtual time",
                    self.now.duration_since(start).as_millis()
                ));
                match reply {
                    Ok(bytes) => Outcome::Response(bytes),
                    Err(e) => error_outcome(&e),
                }
            }
            (None, Some(Stall::NoTimer)) | (None, None) => Outcome::Harness(
                "the device deferred its reply but has no timer pending, so it can never arrive"
                    .to_owned(),
            ),
            (None, Some(Stall::TooManyExpiries)) => Outcome::Harness(format!(
                "deferred reply still missing after {MAX_EXPIRIES} timer expiries ({} ms of virtual time)",
                self.now.duration_since(start).as_millis()
            )),
        }
    }

    fn advance(&mut self, adv: &AdvanceStep) -> (StepLog, Option<Mismatch>) {
        let target = self.now + Duration::from_millis(adv.millis);
        let done = self.device.advance(self.now, Until::At(target));
        self.now = done.now;
        let mismatch = done.stalled.map(|_| Mismatch {
            step: adv.step,
            endpoint: format!("advance {} ms", adv.millis),
            expected: Outcome::Harness("virtual time reaches the target".to_owned()),
            actual: Outcome::Harness(format!(
                "more than {MAX_EXPIRIES} timer expiries before the target"
            )),
            detail: None,
        });
        let log = StepLog {
            step: adv.step,
            what: format!("advance {} ms", adv.millis),
            passed: mismatch.is_none(),
            summary: format!("{} timer expiries", done.expiries),
            events: done
                .events
                .iter()
                .map(|ev| format!("event: {ev:?}"))
                .collect(),
        };
        (log, mismatch)
    }
}

fn drain_events(device: &mut Device) -> Vec<String> {
    std::iter::from_fn(|| device.poll_event())
        .map(|ev| format!("event: {ev:?}"))
        .collect()
}

fn error_outcome(e: &NoResponse) -> Outcome {
    let code = e.err.code();
    Outcome::Error {
        code,
        name: format!("{}: {}", esp_err_name(code), e.why),
    }
}

/// Compares the device's outcome of a request with the recording.
fn judge(req: &RequestStep, actual: &Outcome) -> Option<Mismatch> {
    let expected = match &req.expected {
        Expected::Response(bytes) => Outcome::Response(bytes.clone()),
        Expected::Error(e) => Outcome::Error {
            code: e.code,
            name: e.name.clone(),
        },
    };
    let detail = match (&req.expected, actual) {
        (Expected::Error(e), Outcome::Error { code, .. }) if *code == e.code => return None,
        (Expected::Response(exp), Outcome::Response(ours)) if ours == exp => return None,
        (Expected::Response(exp), Outcome::Response(ours)) if req.nondeterministic => {
            let plain = req.response_plaintext.as_deref();
            match compare::recover_plaintext(ours, exp, plain).and_then(|our_plain| {
                compare::compare_structure(&req.endpoint, &our_plain, plain.unwrap_or(exp))
            }) {
                Ok(()) => return None,
                Err(why) => Some(format!(
                    "nondeterministic step, structural comparison: {why}"
                )),
            }
        }
        (Expected::Response(exp), Outcome::Response(ours)) => {
            first_difference(ours, exp).map(|at| format!("first differing byte at offset {at}"))
        }
        _ => None,
    };
    Some(Mismatch {
        step: req.step,
        endpoint: req.endpoint.clone(),
        expected,
        actual: actual.clone(),
        detail,
    })
}

fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())))
}
