//! `vectors` command line: replays golden-vector files against the provlab virtual device.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vectors::ScenarioReport;

/// Replay recorded ESP-IDF provisioning transcripts (golden vectors) against the provlab virtual
/// device.
///
/// Golden vectors are JSON files in the schema `esp-idf-prov-golden-vector/1` (documented in
/// vectors/esp-idf/README.md); the ones recorded from ESP-IDF v5.5.5 ship in vectors/esp-idf/.
/// Bring your own recordings in the same schema to check the device against other firmware.
#[derive(Parser, Debug)]
#[command(name = "vectors", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replay golden vectors (schema esp-idf-prov-golden-vector/1) and compare every response.
    ///
    /// PATH is a directory (every *.json in it except index.json is replayed, in name order) or a
    /// single vector file. Vectors you recorded yourself work too, as long as they follow the schema
    /// described in vectors/esp-idf/README.md: the device is configured from each file's `inputs`,
    /// the device's random values are injected from the recording (`derived_device_values` and the
    /// per-step `device_trace`), and each response must match `response_hex` byte for byte, or the
    /// recorded error code. Steps flagged `nondeterministic` are compared field by field.
    ///
    /// Prints one line per scenario (name, steps passed/total, PASS or FAIL, and for a failure its
    /// first mismatching step with expected and actual bytes), then `N passed, N failed`.
    /// Exit status: 0 when every scenario passed, 1 when any failed or a file could not be read or
    /// parsed.
    Replay {
        /// Directory of vector files, or one vector file.
        path: PathBuf,
        /// Also print every step, the device events it produced, and every mismatch.
        #[arg(short, long)]
        verbose: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay { path, verbose } => run_replay(&path, verbose),
    }
}

fn run_replay(path: &Path, verbose: bool) -> ExitCode {
    let files = if path.is_dir() {
        match vectors::scenario_files(path) {
            Ok(files) if files.is_empty() => {
                eprintln!("error: {}: no vector files (*.json) found", path.display());
                return ExitCode::FAILURE;
            }
            Ok(files) => files,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        vec![path.to_owned()]
    };

    let (mut passed, mut failed) = (0usize, 0usize);
    for file in &files {
        match vectors::replay_file(file) {
            Ok(report) => {
                print_report(&report, verbose);
                if report.passed() {
                    passed += 1;
                } else {
                    failed += 1;
                }
            }
            Err(e) => {
                println!("{:<40} ERROR (file not replayed)", display_stem(file));
                println!("    {e}");
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn display_stem(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

fn print_report(report: &ScenarioReport, verbose: bool) {
    println!("{}", report.summary_line());
    if verbose {
        for step in &report.log {
            println!(
                "    step {:>2} {:<28} {}  {}",
                step.step,
                step.what,
                if step.passed { "ok  " } else { "FAIL" },
                step.summary
            );
            for ev in &step.events {
                println!("             {ev}");
            }
        }
    }
    let shown = if verbose {
        report.mismatches.len()
    } else {
        report.mismatches.len().min(1)
    };
    for (i, m) in report.mismatches.iter().take(shown).enumerate() {
        let label = if i == 0 { "first mismatch" } else { "mismatch" };
        println!("    {label}: step {} endpoint {}", m.step, m.endpoint);
        println!("      expected: {}", m.expected);
        println!("      actual:   {}", m.actual);
        if let Some(detail) = &m.detail {
            println!("      detail:   {detail}");
        }
    }
    if report.mismatches.len() > shown {
        println!(
            "    ({} more mismatching step(s); --verbose lists them)",
            report.mismatches.len() - shown
        );
    }
    for p in &report.rng_problems {
        println!("    rng: {p}");
    }
}
