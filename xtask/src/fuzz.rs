//! `cargo xtask fuzz [TARGET…] [--seconds N]`: coverage-guided runs of the fuzz targets with cargo-fuzz
//! (libFuzzer, nightly). Each target starts from its seeds (written fresh from the golden vectors and
//! the project's files into `fuzz/seeds/`), its kept regressions (`fuzz/regressions/`) and the corpus
//! earlier runs grew (`fuzz/corpus/`, git-ignored), and prints executions, speed, corpus size, coverage
//! and crashes. A crash fails the command; its input is in `fuzz/artifacts/<target>/`.
//!
//! Built without a sanitizer: the workspace forbids unsafe code, so what the fuzzer looks for is panics
//! (failed invariants included), aborts and hangs, and the build and the runs are faster without one.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::{cargo_bin, status};

/// Options of one `fuzz` call.
pub(crate) struct Options {
    /// Targets to run (empty: all).
    pub(crate) targets: Vec<String>,
    /// Seconds per target.
    pub(crate) seconds: u64,
}

impl Options {
    /// Parses `[TARGET…] [--seconds N]`.
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
        let mut opts = Self {
            targets: Vec::new(),
            seconds: 60,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--seconds" => {
                    let n = it.next().context("--seconds needs a number")?;
                    opts.seconds = n
                        .parse()
                        .with_context(|| format!("--seconds {n:?} is not a whole number"))?;
                }
                "-h" | "--help" => bail!(
                    "usage: cargo xtask fuzz [TARGET…] [--seconds N]   (default: every target, 60 s each)"
                ),
                t if t.starts_with('-') => bail!("unknown option {t}"),
                t => opts.targets.push(t.to_owned()),
            }
        }
        Ok(opts)
    }
}

/// What one target's run did.
pub(crate) struct Figures {
    pub(crate) executions: u64,
    pub(crate) per_second: u64,
    pub(crate) coverage: u64,
    pub(crate) corpus: usize,
}

/// Whether a nightly toolchain is installed (cargo-fuzz needs one).
pub(crate) fn nightly_available() -> bool {
    Command::new("cargo")
        .args(["+nightly", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs the targets and returns their figures; an error when one crashed or something needed is
/// missing.
pub(crate) fn run(root: &Path, opts: &Options) -> Result<Vec<(String, Figures)>> {
    if !nightly_available() {
        bail!(
            "no nightly toolchain: cargo-fuzz needs one (`rustup toolchain install nightly`). The targets' \
             bodies still run over their corpus on stable in `cargo xtask test` (fuzzing/tests/corpus.rs)"
        );
    }
    ensure_cargo_fuzz()?;
    let fuzz = root.join("fuzz");
    let all = list(&fuzz)?;
    let targets: Vec<String> = if opts.targets.is_empty() {
        all.clone()
    } else {
        for t in &opts.targets {
            if !all.contains(t) {
                bail!("no fuzz target {t:?}; the targets are: {}", all.join(", "));
            }
        }
        opts.targets.clone()
    };
    eprintln!("writing seeds into fuzz/seeds/");
    let seeds = fuzz.join("seeds");
    let _ = std::fs::remove_dir_all(&seeds);
    status(
        Command::new(cargo_bin())
            .args(["run", "-q", "-p", "fuzzing", "--bin", "fuzz-seeds", "--"])
            .arg(&seeds)
            .args(&targets),
    )?;
    eprintln!("building the fuzz targets (nightly, release, debug assertions on)");
    status(
        Command::new("cargo")
            .current_dir(&fuzz)
            .args(["+nightly", "fuzz", "build", "-O", "-a", "-s", "none"]),
    )
    .context("building the fuzz targets failed")?;
    println!(
        "{:<10} {:>12} {:>9} {:>8} {:>8} crashes",
        "target", "executions", "exec/s", "corpus", "cov"
    );
    let mut crashed = Vec::new();
    let mut figures = Vec::new();
    for t in &targets {
        match one(&fuzz, t, opts.seconds)? {
            Ok(f) => {
                println!(
                    "{t:<10} {:>12} {:>9} {:>8} {:>8} 0",
                    f.executions, f.per_second, f.corpus, f.coverage
                );
                figures.push((t.clone(), f));
            }
            Err(artifact) => {
                println!(
                    "{t:<10} {:>12} {:>9} {:>8} {:>8} 1 ({artifact})",
                    "-", "-", "-", "-"
                );
                crashed.push(format!("{t}: {artifact}"));
            }
        }
    }
    if !crashed.is_empty() {
        bail!(
            "fuzzing found crashes:\n  {}\nreproduce with `cargo +nightly fuzz run TARGET FILE` in fuzz/; once \
             fixed, keep the input in fuzz/regressions/TARGET/",
            crashed.join("\n  ")
        );
    }
    Ok(figures)
}

fn ensure_cargo_fuzz() -> Result<()> {
    crate::ensure_installed(
        Command::new("cargo").args(["+nightly", "fuzz", "--version"]),
        "cargo-fuzz",
    )
}

/// The targets cargo-fuzz knows (`[[bin]]`s of fuzz/Cargo.toml).
fn list(fuzz: &Path) -> Result<Vec<String>> {
    let out = Command::new("cargo")
        .current_dir(fuzz)
        .args(["+nightly", "fuzz", "list"])
        .output()
        .context("cargo fuzz list")?;
    if !out.status.success() {
        bail!("cargo fuzz list: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// One target for `seconds`: its figures, or the crash artifact's path.
fn one(fuzz: &Path, target: &str, seconds: u64) -> Result<std::result::Result<Figures, String>> {
    let corpus = fuzz.join("corpus").join(target);
    std::fs::create_dir_all(&corpus).with_context(|| corpus.display().to_string())?;
    let artifacts = fuzz.join("artifacts").join(target);
    std::fs::create_dir_all(&artifacts).with_context(|| artifacts.display().to_string())?;
    let mut cmd = Command::new("cargo");
    cmd.current_dir(fuzz)
        .args(["+nightly", "fuzz", "run", "-O", "-a", "-s", "none", target])
        .arg(&corpus)
        .arg(fuzz.join("seeds").join(target));
    let kept = fuzz.join("regressions").join(target);
    if kept.is_dir() {
        cmd.arg(&kept);
    }
    cmd.arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg("-print_final_stats=1")
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg(format!("-artifact_prefix={}/", artifacts.display()));
    eprintln!("fuzzing {target} for {seconds} s");
    let started = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("cargo fuzz run {target}"))?;
    let log = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let artifact = log
            .lines()
            .find_map(|l| l.split("Test unit written to ").nth(1))
            .unwrap_or("no artifact written; see the output above")
            .trim()
            .to_owned();
        eprintln!("{}", tail(&log, 40));
        return Ok(Err(artifact));
    }
    let stat = |name: &str| -> u64 {
        log.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().parse().unwrap_or(0)))
            .unwrap_or(0)
    };
    let executions = stat("stat::number_of_executed_units:");
    // The last status line: `#N DONE cov: C ft: F corp: …`, or the last `cov:` seen.
    let coverage = log
        .lines()
        .rev()
        .find_map(|l| {
            let after = l.split(" cov: ").nth(1)?;
            after.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0);
    let secs = started.elapsed().as_secs().max(1);
    Ok(Ok(Figures {
        executions,
        per_second: executions / secs.min(seconds.max(1)),
        coverage,
        corpus: std::fs::read_dir(&corpus).map_or(0, |d| d.count()),
    }))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
