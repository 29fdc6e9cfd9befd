//! `cargo xtask <task>`: provlab's automation, in Rust so that only cargo is needed (matklad's xtask).
//!
//! Tasks: `test` (the README's test command: format check, clippy, every test), `codegen [--check]`
//! (regenerate the committed prost code), `replay <DIR>` (replay golden vectors), `bench` (handshake
//! throughput of the core), `esp-prov-setup` / `esp-prov ARGS` (Espressif's client in a venv),
//! `conformance [ARGS]` (the README's main job: the conformance suite, reports under `reports/`),
//! `hil ARGS` (the suite on a rack of boards, real or virtual; reports under `reports/hil/`), `fuzz`
//! (coverage-guided fuzzing with cargo-fuzz), `reliability` (the measured figures of issue 13).

mod esp_prov;
mod fuzz;
mod nextest;
mod reliability;
mod sysdeps;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{bail, Context, Result};

const HELP: &str = "\
cargo xtask <task>

Tasks:
  test               the project's test command: cargo fmt --check, clippy -D warnings, every test
                     with cargo-nextest (installed when missing; JUnit in target/nextest/ci/junit.xml)
  codegen [--check]  regenerate proto/src/gen from proto/proto/*.proto (--check: fail if stale)
  replay <DIR|FILE>  replay golden vectors (same as `cargo run -p vectors -- replay`)
  bench [SECONDS]    handshake throughput of the device core, release build (default 3 s per scheme)
  esp-prov-setup     install Espressif's esp_prov into target/esp-prov-venv (the tests need it)
  esp-prov ARGS...   run esp_prov with its own arguments, e.g.
                     cargo xtask esp-prov --transport softap --service_name 127.0.0.1:8080 --sec_ver 1 \
                       --pop abcd1234 --ssid myssid --passphrase mypassword
  conformance [ARGS] the conformance suite, against the embedded simulator by default: every
                     transport x security, golden replay, reports under reports/ (ARGS: see
                     `cargo xtask conformance --help`; e.g. --dut, --device-file, --profile,
                     --transport, --security, --filter, --report-dir; `self-check`, `list`)
  hil ARGS           the suite on a rack of boards (hil/README.md), e.g.
                     cargo xtask hil --rack hil/examples/virtual-rack.toml
                     cargo xtask hil --rack RACK.toml --dry-run   (check inventory and firmware only)
                     (ARGS: see `cargo xtask hil --help`; reports under reports/hil/)
  reliability [--only PARTS]
                     fuzzing, SIGKILL crash safety, load and a secret scan, measured; writes
                     reports/reliability.md (see `cargo xtask reliability --help`)
  fuzz [TARGET…] [--seconds N]
                     coverage-guided fuzzing (cargo-fuzz, nightly; installed when missing), 60 s per
                     target by default; prints executions, corpus, coverage and crashes per target
  help               this text
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let root = project_root();
    std::env::set_current_dir(&root).with_context(|| format!("cd {}", root.display()))?;
    match args.first().map(String::as_str) {
        None | Some("help" | "--help" | "-h") => {
            print!("{HELP}");
            Ok(())
        }
        Some("test") => test(),
        Some("codegen") => codegen(args.get(1).map(String::as_str) == Some("--check")),
        Some("replay") => {
            let Some(dir) = args.get(1) else {
                bail!("usage: cargo xtask replay <DIR|FILE>")
            };
            cargo(&["run", "-q", "-p", "vectors", "--", "replay", dir])
        }
        Some("bench") => {
            let secs = args.get(1).map_or("3", String::as_str);
            cargo(&[
                "run",
                "-q",
                "--release",
                "-p",
                "sim-device",
                "--example",
                "handshakes",
                "--",
                secs,
            ])
        }
        Some("esp-prov-setup") => {
            let py = esp_prov::setup(&root)?;
            eprintln!("esp_prov ready: {}", py.display());
            Ok(())
        }
        Some("esp-prov") => esp_prov::run_esp_prov(&root, &args[1..]),
        Some("conformance") => conformance(&args[1..]),
        Some("hil") => hil(&args[1..]),
        Some("fuzz") => fuzz::run(&root, &fuzz::Options::parse(&args[1..])?).map(drop),
        Some("reliability") => reliability::run(&root, &args[1..]),
        Some(other) => bail!("unknown task `{other}`\n\n{HELP}"),
    }
}

/// Builds the suite (the simulator is embedded in it), then runs it and reports the wall time.
fn conformance(args: &[String]) -> Result<()> {
    step("system packages (libdbus, dbus-daemon)", sysdeps::ensure)?;
    step("build the conformance suite and simulator", || {
        cargo(&["build", "-q", "-p", "conformance", "-p", "sim-device"])
    })?;
    let start = Instant::now();
    let mut cmd = Command::new(cargo_bin());
    cmd.args(["run", "-q", "-p", "conformance", "--"])
        .args(args);
    let result = status(&mut cmd);
    eprintln!(
        "xtask conformance: wall time {:.1} s after the build",
        start.elapsed().as_secs_f64()
    );
    result.context("the conformance run failed (see the failures above and the reports)")
}

/// Builds the HIL runner and the simulator its virtual boards run, then runs it on a rack.
fn hil(args: &[String]) -> Result<()> {
    step("system packages (libdbus, dbus-daemon)", sysdeps::ensure)?;
    step("build the HIL runner and simulator", || {
        cargo(&["build", "-q", "-p", "hil", "-p", "sim-device"])
    })?;
    let start = Instant::now();
    let mut cmd = Command::new(cargo_bin());
    cmd.args(["run", "-q", "-p", "hil", "--"]).args(args);
    let result = status(&mut cmd);
    eprintln!(
        "xtask hil: wall time {:.1} s after the build",
        start.elapsed().as_secs_f64()
    );
    result.context("the HIL run failed (see the failures above and the reports)")
}

/// Seconds per fuzz target in the test command: enough to catch a target that no longer builds or
/// crashes at once; the long runs are `cargo xtask fuzz --seconds N`.
const FUZZ_SECONDS: u64 = 5;

fn test() -> Result<()> {
    let start = Instant::now();
    step("system packages (libdbus, dbus-daemon)", sysdeps::ensure)?;
    step("cargo fmt --check", || {
        cargo(&["fmt", "--all", "--", "--check"])
    })
    .context("formatting differs: run `cargo fmt --all`")?;
    step("clippy", || {
        cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])
    })?;
    let mut py = PathBuf::new();
    step("esp_prov for the interop tests", || {
        py = esp_prov::setup(&project_root())?;
        Ok(())
    })?;
    step("cargo-nextest", nextest::ensure)?;
    let mut totals = (0u64, 0u64);
    step("cargo nextest run --workspace, then the doc tests", || {
        totals = nextest::run(&project_root(), &py)?;
        Ok(())
    })?;
    if fuzz::nightly_available() {
        step(
            "fuzz every target for a bounded time (cargo xtask fuzz --seconds 5)",
            || {
                fuzz::run(
                    &project_root(),
                    &fuzz::Options {
                        targets: Vec::new(),
                        seconds: FUZZ_SECONDS,
                    },
                )
                .map(drop)
            },
        )?;
    } else {
        eprintln!(
            "xtask test: NOT FUZZED: no nightly toolchain for cargo-fuzz (`rustup toolchain install nightly`); \
             every target's body ran over its corpus on stable (fuzzing/tests/corpus.rs)"
        );
    }
    eprintln!(
        "xtask test: all green in {:.1} s (JUnit: {})",
        start.elapsed().as_secs_f64(),
        nextest::JUNIT
    );
    println!("{} passed, {} failed", totals.0, totals.1);
    Ok(())
}

fn codegen(check: bool) -> Result<()> {
    let mut cmd = Command::new(cargo_bin());
    cmd.args(["test", "-q", "-p", "proto", "--test", "codegen"]);
    if !check {
        cmd.env("PROVLAB_CODEGEN", "write");
    }
    status(&mut cmd)?;
    eprintln!(
        "{}",
        if check {
            "generated code is current"
        } else {
            "proto/src/gen regenerated"
        }
    );
    Ok(())
}

fn step(name: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    eprintln!("==> {name}");
    let t = Instant::now();
    f().with_context(|| format!("{name} failed"))?;
    eprintln!("<== {name} ({:.1} s)", t.elapsed().as_secs_f64());
    Ok(())
}

/// Makes sure a cargo tool runs (`probe` succeeds): installs crate `krate` with `cargo install --locked`
/// when it does not, or says exactly what to run when that fails.
fn ensure_installed(probe: &mut Command, krate: &str) -> Result<()> {
    if probe.output().is_ok_and(|o| o.status.success()) {
        return Ok(());
    }
    eprintln!("{krate} is missing: installing it (cargo install --locked {krate})");
    status(Command::new(cargo_bin()).args(["install", "--locked", krate])).with_context(|| {
        format!("could not install {krate}; run `cargo install --locked {krate}` and try again")
    })
}

fn cargo(args: &[&str]) -> Result<()> {
    status(Command::new(cargo_bin()).args(args))
}

fn status(cmd: &mut Command) -> Result<()> {
    let st = cmd
        .status()
        .with_context(|| format!("could not run {cmd:?}"))?;
    if !st.success() {
        bail!("{cmd:?} exited with {st}");
    }
    Ok(())
}

fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The workspace root: xtask lives one level below it.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
