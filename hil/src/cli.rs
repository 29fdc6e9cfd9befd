//! The `hil` command line (`cargo xtask hil` builds and runs it).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::inventory::{check, Capability, Rack};
use crate::rack::{self, RunOptions};

const AFTER_HELP: &str = "\
Examples:
  cargo xtask hil --rack hil/examples/virtual-rack.toml              the whole suite on three virtual boards
  cargo xtask hil --rack rack1.toml --board c3-01 --filter 'SEC1-*'  some cases on one real board
  cargo xtask hil --rack rack1.toml --dry-run                        check the inventory and firmware, touch nothing

Each board is flashed when its firmware changed, its NVS partition erased, reset, and judged once its
console prints `Provisioning started with service name : PROV_…`. Between cases that leave the board
provisioned it is erased and reset again. A board that fails to flash, never gets ready or dies is
reported with its console log and does not stop the others. Exit status: 0 when every case that applied
passed, 1 otherwise, 2 for a broken inventory or command line.

Reports: junit.xml, summary.md, matrix.html and run.json (boards as columns) in --report-dir, and per
board boards/<id>/junit.xml (cases classed <chip>.<transport>, the console log in system-out, flash and
boot times as properties) and boards/<id>/console.log. hil/README.md explains inventories and racks.";

/// Runs the conformance suite on a rack of ESP32 boards: flashed, reset and watched through probe-rs
/// (or espflash) and their consoles.
#[derive(Debug, Parser)]
#[command(name = "hil", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The rack inventory (TOML): its host radios and boards.
    #[arg(long, value_name = "FILE")]
    pub rack: PathBuf,
    /// Only this board (repeatable).
    #[arg(long = "board", value_name = "ID")]
    pub boards: Vec<String>,
    /// Only cases whose ID matches (comma-separated; `*` wildcards; substrings match).
    #[arg(long, value_name = "PATTERNS")]
    pub filter: Option<String>,
    /// Where the reports go.
    #[arg(long, value_name = "DIR", default_value = "reports/hil")]
    pub report_dir: PathBuf,
    /// Check the inventory and every firmware bundle and device file, touch no hardware, exit.
    #[arg(long)]
    pub dry_run: bool,
    /// Where boards keep their state (virtual flash, flash records); default: the inventory's
    /// `work_dir`, else target/hil.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Where lock files go; default: the inventory's `lock_dir`, else /run/lock/provlab if writable.
    #[arg(long, value_name = "DIR")]
    pub lock_dir: Option<PathBuf>,
    /// Print every case, not only failures.
    #[arg(short, long)]
    pub verbose: bool,
}

/// Runs the command; the exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = sim_device::runtime::logfilter::from_env("warn");
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let rack = match Rack::load(&cli.rack) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hil: the inventory is not usable:\n{e}");
            return ExitCode::from(2);
        }
    };
    let firmware = check::firmware(&rack);
    if !firmware.is_empty() {
        let all = crate::inventory::InventoryErrors(firmware);
        eprintln!("hil: the firmware of some boards is not usable:\n{all}");
        return ExitCode::from(2);
    }
    let boards = match rack::selected(&rack, &cli.boards) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("hil: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.dry_run {
        return dry_run(&rack, &boards);
    }
    // Virtual BLE boards and the suite meet on a private bus with a fake bluetoothd: run again on it.
    let virtual_ble = boards
        .iter()
        .any(|b| b.virtual_board.is_some() && b.firmware.transports.contains(&Capability::Ble));
    if virtual_ble && conformance::dut::ble::loopback::wanted(false) {
        return match conformance::dut::ble::loopback::rerun(517) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("hil: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match run(&cli, &rack) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hil: {e}");
            ExitCode::FAILURE
        }
    }
}

fn dry_run(rack: &Rack, boards: &[&crate::inventory::BoardSpec]) -> ExitCode {
    println!(
        "{}: host {}, {} radio(s), {} board(s) selected",
        rack.file.display(),
        rack.host,
        rack.radios.len(),
        boards.len()
    );
    let mut rows = vec![[
        "board".to_owned(),
        "chip".to_owned(),
        "flashed by".to_owned(),
        "transports".to_owned(),
        "service name".to_owned(),
        "firmware".to_owned(),
    ]];
    for b in boards {
        let kind = if let Some(v) = &b.virtual_board {
            let faults: Vec<&str> = v.faults.iter().map(|f| f.name()).collect();
            if faults.is_empty() {
                "virtual".to_owned()
            } else {
                format!("virtual, fault {}", faults.join("+"))
            }
        } else if let Some(p) = &b.probe {
            format!("probe-rs {p}")
        } else {
            "espflash (console)".to_owned()
        };
        let transports: Vec<&str> = b.firmware.transports.iter().map(|t| t.name()).collect();
        let detail = match crate::firmware::Bundle::load(&b.firmware.flasher_args) {
            Ok(bundle) => {
                let nvs = bundle.nvs();
                format!(
                    "{} images, {} bytes, sha256 {}…, NVS {:#x}..{:#x}",
                    bundle.images.len(),
                    bundle.len(),
                    &bundle.digest()[..12],
                    nvs.start,
                    nvs.end
                )
            }
            Err(e) => e,
        };
        rows.push([
            b.id.clone(),
            b.chip.name().to_owned(),
            kind,
            transports.join(","),
            b.expected_service_name(),
            detail,
        ]);
    }
    let mut widths = [0usize; 6];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in &rows {
        let mut line = String::from(" ");
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(&format!(" {cell}"));
            } else {
                line.push_str(&format!(" {cell:<w$}"));
            }
        }
        println!("{line}");
    }
    println!("inventory and firmware OK; no hardware was touched (--dry-run)");
    ExitCode::SUCCESS
}

fn run(cli: &Cli, rack: &Rack) -> Result<ExitCode, String> {
    let mut catalogue = conformance::cases::catalogue();
    catalogue.extend(conformance::golden::cases()?);
    let opts = RunOptions {
        rack,
        boards: cli.boards.clone(),
        filter: cli.filter.clone(),
        catalogue: &catalogue,
        work_dir: cli
            .work_dir
            .clone()
            .or_else(|| rack.work_dir.clone())
            .unwrap_or_else(|| PathBuf::from("target/hil")),
        lock_dir: cli
            .lock_dir
            .clone()
            .or_else(|| rack.lock_dir.clone())
            .unwrap_or_else(Rack::default_lock_dir),
        sim_device: conformance::selfcheck::external::sim_device_binary()?,
        verbose: cli.verbose,
    };
    let out = rack::run(&opts)?;
    let written = conformance::report::write_all(&out.run, &cli.report_dir)
        .map_err(|e| format!("writing reports to {}: {e}", cli.report_dir.display()))?;
    let boards = rack::write_boards(&out, &cli.report_dir)
        .map_err(|e| format!("writing board reports: {e}"))?;
    print_table(&out.run.columns);
    Ok(conformance::cli::finish(
        &out.run,
        &written,
        &boards,
        out.run.duration,
    ))
}

/// The closing table, a row per column, then why each faulty board is faulty.
fn print_table(columns: &[conformance::model::ColumnReport]) {
    let fault = |c: &conformance::model::ColumnReport| {
        c.results.iter().find_map(|r| match &r.verdict {
            conformance::model::Verdict::Fail(why) if r.id == crate::rack::BOARD_CASE => {
                Some(why.clone())
            }
            _ => None,
        })
    };
    conformance::cli::print_columns(columns, " board", |c| {
        if fault(c).is_some() { " FAULTY" } else { " ok" }.to_owned()
    });
    let faults: Vec<String> = columns
        .iter()
        .filter_map(|c| {
            let board = c.board.as_ref().map_or("", |b| b.id.as_str());
            fault(c).map(|why| format!("  {board}: {why}"))
        })
        .collect();
    if !faults.is_empty() {
        println!("faulty boards (each with its console log under boards/):");
        for f in faults {
            println!("{f}");
        }
    }
}
