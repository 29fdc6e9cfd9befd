//! Results of replaying a scenario: per-scenario summary, mismatches and a per-step log.

use std::fmt;

/// What a request step produced (or was recorded to produce).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Response bytes.
    Response(Vec<u8>),
    /// No response: `protocomm_req_handle()` returned this error.
    Error {
        /// `esp_err_t` value (-2: provisioning service stopped).
        code: i32,
        /// Symbolic name, plus the device's reason when it is ours.
        name: String,
    },
    /// The harness could not obtain an outcome (e.g. a deferred reply never arrived).
    Harness(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Response(bytes) if bytes.is_empty() => write!(f, "response (empty)"),
            Self::Response(bytes) => write!(f, "response {}", hex::encode(bytes)),
            Self::Error { code, name } => write!(f, "error {code} ({name})"),
            Self::Harness(why) => write!(f, "no outcome: {why}"),
        }
    }
}

/// A step whose outcome differs from the recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// 1-based step number (0: not tied to a step, e.g. leftover recorded randomness).
    pub step: u32,
    /// Endpoint of the step (or a description for non-request checks).
    pub endpoint: String,
    /// What the vector recorded.
    pub expected: Outcome,
    /// What the device did.
    pub actual: Outcome,
    /// Extra explanation (structural difference of a nondeterministic step, ...).
    pub detail: Option<String>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {} {}: expected {}; actual {}",
            self.step, self.endpoint, self.expected, self.actual
        )?;
        if let Some(detail) = &self.detail {
            write!(f, "; {detail}")?;
        }
        Ok(())
    }
}

/// What happened at one step, for verbose output.
#[derive(Debug, Clone)]
pub struct StepLog {
    /// 1-based step number.
    pub step: u32,
    /// `endpoint (session N)` or `advance N ms`.
    pub what: String,
    /// Whether the step matched the recording.
    pub passed: bool,
    /// The device's outcome (requests) or the virtual time reached (directives).
    pub summary: String,
    /// Device events drained during the step (`Debug` form), and harness notes.
    pub events: Vec<String>,
}

/// The result of replaying one scenario.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    /// Scenario name.
    pub name: String,
    /// Where it was read from.
    pub origin: String,
    /// Number of transcript steps (requests and directives).
    pub steps_total: usize,
    /// Steps whose outcome matched the recording.
    pub steps_passed: usize,
    /// Every mismatching step, in order (the replay goes on after a mismatch, so later ones may be
    /// consequences of the first).
    pub mismatches: Vec<Mismatch>,
    /// Problems with the injected randomness (draws without a recorded value, wrong lengths,
    /// recorded values never drawn).
    pub rng_problems: Vec<String>,
    /// Per-step log.
    pub log: Vec<StepLog>,
}

impl ScenarioReport {
    /// True when every step matched and the injected randomness was used exactly as recorded.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty() && self.rng_problems.is_empty()
    }

    /// The first mismatching step, if any.
    pub fn first_mismatch(&self) -> Option<&Mismatch> {
        self.mismatches.first()
    }

    /// One-line summary: `name  passed/total  PASS|FAIL`.
    pub fn summary_line(&self) -> String {
        format!(
            "{:<40} {:>3}/{:<3} {}",
            self.name,
            self.steps_passed,
            self.steps_total,
            if self.passed() { "PASS" } else { "FAIL" }
        )
    }
}

/// Human name of an `esp_err_t` value as used in the vectors.
pub fn esp_err_name(code: i32) -> &'static str {
    match code {
        0 => "ESP_OK",
        -1 => "ESP_FAIL",
        -2 => "NO_TRANSPORT (provisioning service stopped)",
        0x101 => "ESP_ERR_NO_MEM",
        0x102 => "ESP_ERR_INVALID_ARG",
        0x103 => "ESP_ERR_INVALID_STATE",
        0x104 => "ESP_ERR_INVALID_SIZE",
        0x105 => "ESP_ERR_NOT_FOUND",
        0x106 => "ESP_ERR_NOT_SUPPORTED",
        0x107 => "ESP_ERR_TIMEOUT",
        _ => "unknown esp_err_t",
    }
}
