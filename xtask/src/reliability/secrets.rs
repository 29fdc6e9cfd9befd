//! The secret scan (issue 13): one run of everything at the most verbose log level, then a search of
//! every log line, report and transcript it left for the PoP, the Security 2 password, the Wi-Fi
//! passphrases and every session key the suite's client derived (its key log, `PROVLAB_KEYLOG`).
//!
//! The run: the conformance suite against the embedded simulator over HTTP, console, BLE (through
//! bluez-loopback) and in memory, Security 0, 1 and 2, with `RUST_LOG=trace` and `-v`; then the
//! simulator's interop tests with Espressif's esp_prov over HTTP and BLE, with `PROVLAB_KEEP_LOGS` so
//! every device log, banner and esp_prov transcript is kept.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::scan::{self, Secret};

/// What the scan found, for the report.
pub(crate) struct Figures {
    pub(crate) scan: scan::Scan,
    pub(crate) secrets: usize,
    pub(crate) session_keys: usize,
    pub(crate) seconds: f64,
}

/// The example's PoP, which is also its Security 2 password (sim-device's defaults).
const EXAMPLE_SECRET: &str = "abcd1234";
/// The suite's default `wrong_password` (conformance's device file).
const WRONG_PASSWORD: &str = "not-the-password";

/// Runs everything verbosely into `dir`, then scans it.
pub(crate) fn run(root: &Path, dir: &Path, py: &Path) -> Result<Figures> {
    let start = Instant::now();
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    // The key log lives outside the scanned tree, and outside reports/ (never a CI artifact).
    let keylog = root.join("target/provlab-secrets.keylog");
    let _ = std::fs::remove_file(&keylog);
    let suite_log = std::fs::File::create(dir.join("suite.log"))?;
    eprintln!("    the suite over http, console, ble and memory, Security 0/1/2, RUST_LOG=trace");
    let st = Command::new(root.join("target/debug/conformance"))
        .args([
            "--transport",
            "http,console,ble,memory",
            "--security",
            "0,1,2",
            "-v",
        ])
        .arg("--report-dir")
        .arg(dir.join("suite"))
        .env("RUST_LOG", "trace")
        .env("PROVLAB_KEYLOG", &keylog)
        .stdout(suite_log.try_clone()?)
        .stderr(suite_log)
        .status()
        .context("could not run the conformance suite")?;
    if !st.success() {
        bail!(
            "the verbose suite run failed ({st}); see {}",
            dir.join("suite.log").display()
        );
    }
    eprintln!("    esp_prov interop over HTTP and BLE (sim-device tests), logs kept");
    let st = Command::new(crate::cargo_bin())
        .args([
            "test",
            "-q",
            "-p",
            "sim-device",
            "--test",
            "interop_esp_prov",
            "--test",
            "interop_ble",
        ])
        .env("PROVLAB_KEEP_LOGS", dir.join("interop"))
        .env("PROVLAB_ESP_PROV_PYTHON", py)
        .stdout(Stdio::null())
        .status()
        .context("could not run the interop tests")?;
    if !st.success() {
        bail!("the interop tests failed ({st}) during the secret scan's run");
    }
    let mut secrets = vec![
        Secret {
            name: "PoP / Security 2 password".into(),
            bytes: EXAMPLE_SECRET.into(),
        },
        Secret {
            name: "wrong Wi-Fi passphrase of the suite".into(),
            bytes: WRONG_PASSWORD.into(),
        },
    ];
    for (i, p) in world_passphrases(&root.join("sim-device/worlds/default.toml"))?
        .into_iter()
        .enumerate()
    {
        secrets.push(Secret {
            name: format!("Wi-Fi passphrase #{} of the default world", i + 1),
            bytes: p.into_bytes(),
        });
    }
    let fixed = secrets.len();
    let keys = std::fs::read_to_string(&keylog).unwrap_or_default();
    for (i, line) in keys.lines().enumerate() {
        let Some(hex) = line.strip_prefix("SESSION_SECRET ") else {
            continue;
        };
        secrets.push(Secret {
            name: format!("session secret #{}", i + 1),
            bytes: hex::decode(hex).with_context(|| format!("key log line {}", i + 1))?,
        });
    }
    let session_keys = secrets.len() - fixed;
    if session_keys == 0 {
        bail!(
            "the key log {} is empty: the scan would prove nothing about session keys",
            keylog.display()
        );
    }
    eprintln!(
        "    scanning {} for {fixed} credentials and {session_keys} session secrets",
        dir.display()
    );
    let scan = scan::scan_dir(dir, &[], &secrets)?;
    Ok(Figures {
        scan,
        secrets: fixed,
        session_keys,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The access points' passwords of a world file (its `[[ap]]` tables).
fn world_passphrases(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let world: toml::Table = text
        .parse()
        .with_context(|| format!("{}: not TOML", path.display()))?;
    let aps = world.get("ap").and_then(toml::Value::as_array);
    Ok(aps
        .into_iter()
        .flatten()
        .filter_map(|ap| ap.get("password")?.as_str())
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Where the hits are, one line each (never the secret itself).
pub(crate) fn describe_hits(hits: &[scan::Hit], root: &Path) -> Vec<String> {
    hits.iter()
        .map(|h| {
            let file: PathBuf = h.file.strip_prefix(root).unwrap_or(&h.file).to_path_buf();
            format!(
                "{}:{}: {} ({})",
                file.display(),
                h.line,
                h.secret,
                h.encoding
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_worlds_passphrases_are_found() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let p = super::world_passphrases(&root.join("sim-device/worlds/default.toml")).unwrap();
        assert_eq!(p, ["mypassword", "office-pass-1234"]);
    }
}
