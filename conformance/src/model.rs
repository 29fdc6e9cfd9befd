//! What a run produces: verdicts, timings and transcripts, per case and per matrix column.
//!
//! The runner fills these in; the reports (`report`) only read them. Plain data, serialisable, so a
//! run can also be saved as JSON and re-rendered.

use std::time::Duration;

use std::collections::BTreeMap;

use serde::Serialize;
use sim_device::misbehave::Misbehaviour;

/// One column of the matrix: a device reached over one transport with one security scheme.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Column {
    /// Short device label, e.g. `sim` or `http://192.168.4.1:80`.
    pub device: String,
    /// Transport name: `http`, `console`, `serial`.
    pub transport: String,
    /// Security scheme 0, 1 or 2.
    pub security: u8,
    /// Profile the expectations were taken from (e.g. `esp-idf-5.5`).
    pub profile: String,
}

impl Column {
    /// `sim/http/sec2`: the column's name in reports and test-case class names.
    pub fn label(&self) -> String {
        format!("{}/{}/sec{}", self.device, self.transport, self.security)
    }
}

/// The verdict on one case in one column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "detail", rename_all = "lowercase")]
pub enum Verdict {
    /// Every expectation held.
    Pass,
    /// An expectation did not hold; the text says which and what was seen instead.
    Fail(String),
    /// The case does not apply to this column (e.g. an HTTP case on the console); the text says why.
    /// Reported, never silently dropped.
    Skip(String),
    /// The device crashed during the case: it stopped answering, or rebooted (a boot banner, a new boot
    /// count), as an ESP32 does after a panic. The text says how it showed and the last request sent.
    Crashed(String),
    /// The case was not run, or its outcome cannot be trusted: the device was left in a state it could
    /// not be brought back from (or stopped answering); the text says by which case.
    NotJudged(String),
}

impl Verdict {
    /// Short word for tables: `pass`, `FAIL`, `skip`, `CRASH`, `n/j`.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail(_) => "FAIL",
            Self::Skip(_) => "skip",
            Self::Crashed(_) => "CRASH",
            Self::NotJudged(_) => "n/j",
        }
    }

    /// The detail text, if the verdict has one.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::Pass => None,
            Self::Fail(d) | Self::Skip(d) | Self::Crashed(d) | Self::NotJudged(d) => Some(d),
        }
    }

    /// Whether this verdict fails the run (a failed expectation or a crash).
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Fail(_) | Self::Crashed(_))
    }
}

/// How the device answered one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum Answer {
    /// A response body.
    Data(#[serde(with = "hex_bytes")] Vec<u8>),
    /// No response: what ESP-IDF calls a transport error (spec §4.4). The text says how it looked on
    /// this transport (connection closed, HTTP 500, no hex line, timeout…).
    NoResponse(String),
}

/// One request/response pair of a case's transcript.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exchange {
    /// Milliseconds since the case started.
    pub at_ms: u64,
    /// Transport session the request went out on (HTTP: connection/cookie number; console: session id).
    pub session: u32,
    /// Endpoint name, or a transport-level label such as `HTTP` for raw requests.
    pub endpoint: String,
    /// Bytes on the wire (ciphertext on encrypted endpoints).
    #[serde(with = "hex_bytes")]
    pub request: Vec<u8>,
    /// Plaintext before encryption, when the client encrypted it.
    #[serde(with = "opt_hex_bytes")]
    pub request_plain: Option<Vec<u8>>,
    /// What came back.
    pub answer: Answer,
    /// Decrypted response, when the client could decrypt it.
    #[serde(with = "opt_hex_bytes")]
    pub answer_plain: Option<Vec<u8>>,
    /// Free-form note (what the step does, or a decoded view).
    pub note: String,
}

/// One case run in one column.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// Stable case ID, e.g. `SEC1-POP-WRONG`.
    pub id: String,
    /// Group name, e.g. `session`.
    pub group: String,
    /// One-line title.
    pub title: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Wall time of the case.
    #[serde(with = "millis")]
    pub duration: Duration,
    /// Every exchange of the case (kept for all cases; reports show it for failures).
    pub transcript: Vec<Exchange>,
}

/// All cases of one column.
#[derive(Clone, Debug, Serialize)]
pub struct ColumnReport {
    /// The column.
    pub column: Column,
    /// Results in catalogue order.
    pub results: Vec<CaseResult>,
    /// Wall time of the column.
    #[serde(with = "millis")]
    pub duration: Duration,
    /// The HIL board behind the column, if it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub board: Option<BoardReport>,
}

/// A HIL board behind a column: what was done to it and what its console printed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BoardReport {
    /// The board's id in its rack inventory.
    pub id: String,
    /// Its chip (probe-rs target name), e.g. `esp32c3`.
    pub chip: String,
    /// Facts in order: flash and boot times, recoveries, the firmware, e.g. `("flash_ms", "20512")`.
    pub properties: Vec<(String, String)>,
    /// Its console output while the column ran, one timestamped line each.
    pub log: String,
}

/// A whole run.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// Tool name and version, e.g. `provlab-conformance 0.1.0`.
    pub tool: String,
    /// When the run started, RFC 3339 UTC.
    pub started: String,
    /// Wall time of the whole run.
    #[serde(with = "millis")]
    pub duration: Duration,
    /// Case filter in effect, if any.
    pub filter: Option<String>,
    /// One entry per column.
    pub columns: Vec<ColumnReport>,
}

/// Verdict counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Passed.
    pub pass: usize,
    /// Failed.
    pub fail: usize,
    /// Skipped (not applicable).
    pub skip: usize,
    /// The device crashed.
    pub crashed: usize,
    /// Not judged (the device could not be brought back).
    pub not_judged: usize,
}

impl Tally {
    /// Adds one verdict.
    pub fn add(&mut self, v: &Verdict) {
        match v {
            Verdict::Pass => self.pass += 1,
            Verdict::Fail(_) => self.fail += 1,
            Verdict::Skip(_) => self.skip += 1,
            Verdict::Crashed(_) => self.crashed += 1,
            Verdict::NotJudged(_) => self.not_judged += 1,
        }
    }

    /// Every verdict counted.
    pub fn total(&self) -> usize {
        self.pass + self.fail + self.skip + self.crashed + self.not_judged
    }

    /// Verdicts that fail the run (failures and crashes).
    pub fn failing(&self) -> usize {
        self.fail + self.crashed
    }
}

impl ColumnReport {
    /// Counts of this column.
    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        self.results.iter().for_each(|r| t.add(&r.verdict));
        t
    }
}

impl RunReport {
    /// Every crash, in run order: `(column label, case ID)`.
    pub fn crashes(&self) -> Vec<(String, String)> {
        self.columns
            .iter()
            .flat_map(|c| {
                c.results
                    .iter()
                    .filter(|r| matches!(r.verdict, Verdict::Crashed(_)))
                    .map(move |r| (c.column.label(), r.id.clone()))
            })
            .collect()
    }

    /// "device crashed N times, first in case X", when it crashed.
    pub fn crash_summary(&self) -> Option<String> {
        let crashes = self.crashes();
        let (column, first) = crashes.first()?;
        let times = match crashes.len() {
            1 => "once".to_owned(),
            n => format!("{n} times"),
        };
        Some(format!(
            "device crashed {times}, first in case {first} ({column})"
        ))
    }

    /// Counts over every column.
    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        for c in &self.columns {
            c.results.iter().for_each(|r| t.add(&r.verdict));
        }
        t
    }
}

mod hex_bytes {
    pub(super) fn serialize<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }
}

mod opt_hex_bytes {
    pub(super) fn serialize<S: serde::Serializer>(
        b: &Option<Vec<u8>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match b {
            Some(b) => s.serialize_str(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }
}

mod millis {
    pub(super) fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// One row of the self-check: a misbehaviour of the simulator (or none) and the cases that caught it.
#[derive(Debug)]
pub struct SelfCheckRow {
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

impl SelfCheckRow {
    /// The row holds as it should: the baseline has no failure, a misbehaviour at least one.
    pub fn ok(&self) -> bool {
        match self.misbehaviour {
            None => self.caught_by.is_empty(),
            Some(_) => self.not_exercised.is_some() || !self.caught_by.is_empty(),
        }
    }
}
