//! Golden vectors recorded from ESP-IDF's own device-side provisioning code, and a harness that
//! replays them against the provlab virtual device ([`sim_device`]).
//!
//! The vectors live in `vectors/esp-idf/` (schema `esp-idf-prov-golden-vector/1`, described in
//! `vectors/esp-idf/README.md`); any directory of files in that schema can be replayed, e.g. vectors
//! recorded from another firmware build.
//!
//! Each scenario is replayed on a fresh device configured from the file's `inputs`, with the device's
//! random values injected from the recording, and every response must match byte for byte (steps
//! flagged `nondeterministic` are compared structurally, see [`compare`]).
//!
//! ```no_run
//! let reports = vectors::replay_dir(std::path::Path::new("vectors/esp-idf"))?;
//! for r in &reports {
//!     println!("{}", r.summary_line());
//! }
//! # Ok::<(), vectors::VectorError>(())
//! ```

pub mod compare;
pub mod error;
pub mod replay;
pub mod report;
pub mod schema;
pub mod setup;

use std::path::{Path, PathBuf};

pub use error::VectorError;
pub use report::{Mismatch, Outcome, ScenarioReport, StepLog};
pub use schema::Scenario;

/// Name of the index file that sits beside the scenario files and is not itself a scenario.
pub const INDEX_FILE: &str = "index.json";

/// Reads and checks one vector file.
pub fn load_file(path: &Path) -> Result<Scenario, VectorError> {
    let text = std::fs::read_to_string(path).map_err(|source| VectorError::Io {
        path: path.to_owned(),
        source,
    })?;
    Scenario::parse(&path.display().to_string(), &text)
}

/// Replays one vector file.
pub fn replay_file(path: &Path) -> Result<ScenarioReport, VectorError> {
    replay::replay_scenario(&load_file(path)?)
}

/// Replays vector JSON held in memory; `origin` names it in messages.
pub fn replay_json(origin: &str, json: &str) -> Result<ScenarioReport, VectorError> {
    replay::replay_scenario(&Scenario::parse(origin, json)?)
}

/// The scenario files of a directory: every `*.json` except [`INDEX_FILE`], sorted by name.
pub fn scenario_files(dir: &Path) -> Result<Vec<PathBuf>, VectorError> {
    let io = |source| VectorError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let is_json = path.extension().is_some_and(|e| e == "json");
        let is_index = path.file_name().is_some_and(|n| n == INDEX_FILE);
        if is_json && !is_index && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Replays every scenario file of `dir` (see [`scenario_files`]), in name order.
///
/// Fails on the first file that cannot be read or parsed; a device that misbehaves is reported in
/// the returned reports, not as an error.
pub fn replay_dir(dir: &Path) -> Result<Vec<ScenarioReport>, VectorError> {
    scenario_files(dir)?
        .iter()
        .map(|path| replay_file(path))
        .collect()
}

/// Every scenario of `vectors/esp-idf/`, compiled in (name, JSON), so tools work from any directory.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "bad_inputs_sec0",
        include_str!("../esp-idf/bad_inputs_sec0.json"),
    ),
    (
        "bad_inputs_sec1",
        include_str!("../esp-idf/bad_inputs_sec1.json"),
    ),
    (
        "bad_inputs_sec2",
        include_str!("../esp-idf/bad_inputs_sec2.json"),
    ),
    ("ctrl_reprov", include_str!("../esp-idf/ctrl_reprov.json")),
    (
        "ctrl_reprov_with_auto_stop",
        include_str!("../esp-idf/ctrl_reprov_with_auto_stop.json"),
    ),
    (
        "custom_data_echo",
        include_str!("../esp-idf/custom_data_echo.json"),
    ),
    (
        "sec0_full_flow",
        include_str!("../esp-idf/sec0_full_flow.json"),
    ),
    (
        "sec1_full_flow",
        include_str!("../esp-idf/sec1_full_flow.json"),
    ),
    ("sec1_no_pop", include_str!("../esp-idf/sec1_no_pop.json")),
    (
        "sec1_no_pop_device_client_sends_pop",
        include_str!("../esp-idf/sec1_no_pop_device_client_sends_pop.json"),
    ),
    (
        "sec1_wrong_pop",
        include_str!("../esp-idf/sec1_wrong_pop.json"),
    ),
    (
        "sec2_full_flow",
        include_str!("../esp-idf/sec2_full_flow.json"),
    ),
    (
        "sec2_short_device_pubkey",
        include_str!("../esp-idf/sec2_short_device_pubkey.json"),
    ),
    (
        "sec2_wrong_password",
        include_str!("../esp-idf/sec2_wrong_password.json"),
    ),
    (
        "wifi_auth_error_then_reset",
        include_str!("../esp-idf/wifi_auth_error_then_reset.json"),
    ),
    (
        "wifi_conn_attempts",
        include_str!("../esp-idf/wifi_conn_attempts.json"),
    ),
    (
        "wifi_connected_bssid_zero_byte",
        include_str!("../esp-idf/wifi_connected_bssid_zero_byte.json"),
    ),
    (
        "wifi_network_not_found",
        include_str!("../esp-idf/wifi_network_not_found.json"),
    ),
];

/// Parses the [`EMBEDDED`] scenarios.
pub fn embedded() -> Result<Vec<Scenario>, VectorError> {
    EMBEDDED
        .iter()
        .map(|(name, json)| Scenario::parse(&format!("vectors/esp-idf/{name}.json"), json))
        .collect()
}
