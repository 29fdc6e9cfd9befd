//! A key log, like TLS's `SSLKEYLOGFILE`: with `PROVLAB_KEYLOG=FILE` set, every session secret the
//! suite's client derives is appended to FILE (one hex line each). Nothing else ever prints them; the
//! file exists so that a secret scan (`cargo xtask reliability`) can prove that no log, report or
//! transcript holds a session key.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

/// The environment variable naming the key log.
pub const ENV: &str = "PROVLAB_KEYLOG";

/// Appends `secrets` to the key log, if one is configured. Failures to write are reported once on
/// stderr (the run goes on: the key log is a test aid).
pub fn record(secrets: &[Vec<u8>]) {
    static FILE: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();
    let file = FILE.get_or_init(|| {
        let path = std::env::var_os(ENV)?;
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            Ok(f) => Some(Mutex::new(f)),
            Err(e) => {
                eprintln!("{ENV}: cannot open {}: {e}", path.to_string_lossy());
                None
            }
        }
    });
    let Some(file) = file else { return };
    let mut lines = String::new();
    for s in secrets {
        lines.push_str("SESSION_SECRET ");
        lines.push_str(&hex::encode(s));
        lines.push('\n');
    }
    let mut f = file
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // One write per handshake, so parallel columns never interleave within a line.
    let _ = f.write_all(lines.as_bytes());
}
