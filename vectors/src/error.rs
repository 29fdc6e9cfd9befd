//! Errors of the vector loader and replay harness.
//!
//! A [`VectorError`] means "this file cannot be replayed at all" (unreadable, not JSON, not the
//! `esp-idf-prov-golden-vector/1` schema, malformed hex, ...). A device that answers differently from
//! the recording is *not* an error: it is reported as a failed step in a
//! [`ScenarioReport`](crate::ScenarioReport).

use std::path::PathBuf;

/// Why a vector file (or a directory of them) could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    /// The file or directory could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The text is not JSON, or its shape does not match the schema.
    #[error("{origin}: not a valid esp-idf-prov-golden-vector/1 file: {source}")]
    Json {
        /// Where the text came from (a file path, or a label for in-memory text).
        origin: String,
        /// The parser's complaint (includes line and column).
        source: serde_json::Error,
    },
    /// The JSON parsed but a value in it is unusable (unknown schema, bad hex, missing field, ...).
    #[error("{origin}: {detail}")]
    Invalid {
        /// Where the text came from (a file path, or a label for in-memory text).
        origin: String,
        /// What is wrong, naming the field and step.
        detail: String,
    },
}
