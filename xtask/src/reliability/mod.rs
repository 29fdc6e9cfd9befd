//! `cargo xtask reliability`: the measured figures of issue 13 in one place, `reports/reliability.md`,
//! so the next person can rerun them and compare. Parts (all by default, or `--only a,b`):
//! - `fuzz`: every fuzz target for `--fuzz-seconds` (executions, exec/s, corpus, coverage, crashes);
//! - `crash`: SIGKILL during credential writes, `--crash-trials` times (store_crash test);
//! - `load`: `--clients` concurrent Security 1 sessions on one simulator with a slow-client attack and a
//!   connection flood (the `load` binary);
//! - `secrets`: a verbose run of everything, then a scan for credentials and session keys.
//!
//! The long fuzz run is not here: it is `cargo xtask fuzz device --seconds N`.

mod scan;
mod secrets;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

const HELP: &str = "\
cargo xtask reliability [--only PARTS] [--fuzz-seconds N] [--crash-trials N] [--clients N]

Measures and writes reports/reliability.md (reports/reliability-partial.md with --only). PARTS,
comma separated (default: all):
  fuzz     every fuzz target for --fuzz-seconds (default 30; needs nightly)
  crash    SIGKILL during credential writes, --crash-trials times (default 1000)
  load     --clients concurrent Security 1 sessions (default 1000) with a slow-client attack and a
           connection flood, on one simulator (loopback)
  secrets  the suite over every transport and scheme plus esp_prov interop at RUST_LOG=trace, then
           a scan of every log, report and transcript for credentials and session keys
Exit status: 0 when every part meets its bar (0 crashes, 0 corrupt stores, 0 errors and RSS back
within 10 %, 0 secrets found), 1 otherwise.";

struct Options {
    parts: Vec<String>,
    fuzz_seconds: u64,
    crash_trials: u64,
    clients: u64,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut o = Self {
            parts: ["fuzz", "crash", "load", "secrets"]
                .map(String::from)
                .to_vec(),
            fuzz_seconds: 30,
            crash_trials: 1000,
            clients: 1000,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .with_context(|| format!("{name} needs a value\n\n{HELP}"))
                    .cloned()
            };
            let number = |name: &str, v: String| {
                v.parse::<u64>()
                    .with_context(|| format!("{name}: {v:?} is not a number"))
            };
            match a.as_str() {
                "--only" => {
                    let v = value("--only")?;
                    o.parts = v.split(',').map(str::to_owned).collect();
                    for p in &o.parts {
                        if !["fuzz", "crash", "load", "secrets"].contains(&p.as_str()) {
                            bail!("--only: no part {p:?}; parts: fuzz, crash, load, secrets");
                        }
                    }
                }
                "--fuzz-seconds" => o.fuzz_seconds = number(a, value(a)?)?,
                "--crash-trials" => o.crash_trials = number(a, value(a)?)?,
                "--clients" => o.clients = number(a, value(a)?)?,
                "-h" | "--help" => {
                    println!("{HELP}");
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other:?}\n\n{HELP}"),
            }
        }
        Ok(o)
    }

    fn wants(&self, part: &str) -> bool {
        self.parts.iter().any(|p| p == part)
    }
}

/// Runs the parts asked for and writes `reports/reliability.md`; fails when a part misses its bar.
pub(crate) fn run(root: &Path, args: &[String]) -> Result<()> {
    let opts = Options::parse(args)?;
    let started = Instant::now();
    crate::step(
        "system packages (libdbus, dbus-daemon)",
        crate::sysdeps::ensure,
    )?;
    let mut md = String::from("# Reliability and security figures\n\n");
    let _ = writeln!(
        md,
        "Written by `cargo xtask reliability{}` on a machine with {} CPUs. Rerun it to compare.\n",
        args.iter().map(|a| format!(" {a}")).collect::<String>(),
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let mut failures = Vec::new();
    if opts.wants("fuzz") {
        crate::step("fuzz every target", || {
            fuzz_part(root, opts.fuzz_seconds, &mut md, &mut failures)
        })?;
    }
    if opts.wants("crash") {
        crate::step("SIGKILL during credential writes", || {
            crash_part(opts.crash_trials, &mut md, &mut failures)
        })?;
    }
    if opts.wants("load") {
        crate::step("load on one simulator", || {
            load_part(root, opts.clients, &mut md, &mut failures)
        })?;
    }
    if opts.wants("secrets") {
        crate::step("secret scan over a verbose run", || {
            secrets_part(root, &mut md, &mut failures)
        })?;
    }
    let _ = writeln!(
        md,
        "\nTotal: {:.0} s. Verdict: {}.",
        started.elapsed().as_secs_f64(),
        if failures.is_empty() {
            "every bar met".to_owned()
        } else {
            format!("FAILED: {}", failures.join("; "))
        }
    );
    // A partial run never overwrites the full baseline (`reports/reliability.md` is committed).
    let all = ["fuzz", "crash", "load", "secrets"]
        .iter()
        .all(|p| opts.wants(p));
    let out = root.join(if all {
        "reports/reliability.md"
    } else {
        "reports/reliability-partial.md"
    });
    std::fs::create_dir_all(root.join("reports"))?;
    std::fs::write(&out, &md)?;
    println!("{md}");
    eprintln!("xtask reliability: wrote {}", out.display());
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(())
}

fn fuzz_part(root: &Path, seconds: u64, md: &mut String, failures: &mut Vec<String>) -> Result<()> {
    let _ = writeln!(md, "## Fuzzing ({seconds} s per target)\n");
    let opts = crate::fuzz::Options {
        targets: Vec::new(),
        seconds,
    };
    match crate::fuzz::run(root, &opts) {
        Ok(figures) => {
            md.push_str("| target | executions | exec/s | corpus | coverage | crashes |\n|---|---|---|---|---|---|\n");
            for (t, f) in figures {
                let _ = writeln!(
                    md,
                    "| {t} | {} | {} | {} | {} | 0 |",
                    f.executions, f.per_second, f.corpus, f.coverage
                );
            }
            md.push_str("\nThe long run is `cargo xtask fuzz device --seconds N`.\n\n");
        }
        Err(e) => {
            let _ = writeln!(md, "FAILED: {e:#}\n");
            failures.push("fuzzing".into());
        }
    }
    Ok(())
}

fn crash_part(trials: u64, md: &mut String, failures: &mut Vec<String>) -> Result<()> {
    let _ = writeln!(
        md,
        "## Crash safety ({trials} SIGKILLs during credential writes)\n"
    );
    let out = Command::new(crate::cargo_bin())
        .args([
            "test",
            "-q",
            "-p",
            "sim-device",
            "--test",
            "store_crash",
            "--",
            "--nocapture",
        ])
        .env("PROVLAB_CRASH_TRIALS", trials.to_string())
        .output()
        .context("could not run the store_crash test")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains(" kills "))
        .unwrap_or("(no figure printed)");
    let _ = writeln!(md, "{line}\n");
    if !out.status.success() {
        let _ = writeln!(
            md,
            "FAILED:\n```\n{}\n```\n",
            String::from_utf8_lossy(&out.stderr)
        );
        failures.push("crash safety".into());
    }
    Ok(())
}

fn load_part(root: &Path, clients: u64, md: &mut String, failures: &mut Vec<String>) -> Result<()> {
    // Release builds: the figures are about the simulator, not about debug assertions.
    crate::cargo(&["build", "-q", "--release", "-p", "sim-device", "-p", "load"])?;
    let out = Command::new(root.join("target/release/load"))
        .args(["--clients", &clients.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("could not run the load generator")?;
    let _ = writeln!(
        md,
        "## Load (`target/release/load --clients {clients}`)\n\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    if !out.status.success() {
        failures.push("load".into());
    }
    Ok(())
}

fn secrets_part(root: &Path, md: &mut String, failures: &mut Vec<String>) -> Result<()> {
    crate::cargo(&["build", "-q", "-p", "conformance", "-p", "sim-device"])?;
    let py = crate::esp_prov::setup(root)?;
    let dir = root.join("reports/secrets");
    let f = secrets::run(root, &dir, &py)?;
    let _ = writeln!(
        md,
        "## Secrets\n\nOne run at `RUST_LOG=trace` (suite over http, console, ble, memory × Security 0/1/2 with \
         `-v`; esp_prov interop over HTTP and BLE), {:.0} s. Scanned {} files, {} lines, {} bytes under \
         `reports/secrets/` for {} credentials (PoP, Security 2 password, Wi-Fi passphrases) and {} session \
         secrets from the suite's key log, each as raw bytes, hex (both cases, spaced, colon-separated), \
         base64 at every alignment and Rust's byte-slice debug form.\n\n**Hits: {}**\n",
        f.seconds,
        f.scan.files,
        f.scan.lines,
        f.scan.bytes,
        f.secrets,
        f.session_keys,
        f.scan.hits.len()
    );
    for h in secrets::describe_hits(&f.scan.hits, root).iter().take(50) {
        let _ = writeln!(md, "- {h}");
    }
    if !f.scan.hits.is_empty() {
        failures.push(format!(
            "{} secrets found in logs or reports",
            f.scan.hits.len()
        ));
    }
    md.push('\n');
    Ok(())
}
