//! The `conformance` command line: run the matrix, list the catalogue, or self-check the suite.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand};
use sim_device::misbehave::Misbehaviour;

use crate::description::{BleStack, Description};
use crate::dut::DutSpec;
use crate::link::Transport;
use crate::matrix::{BleRequest, Request};
use crate::model::SelfCheckRow;
use prov_client::Profile;

/// Judge a device that speaks Espressif unified provisioning against ESP-IDF's behaviour.
#[derive(Parser, Debug)]
#[command(
    name = "conformance",
    version,
    after_help = "DEVICES (--dut):
  sim                      the embedded simulator (default): every transport × security, a fresh device per case
  http://HOST:PORT         a SoftAP-scheme device, e.g. http://192.168.4.1:80
  console:'<command>'      a program speaking the console line protocol on stdin/stdout, started per case
  serial:<port>[@baud]     a board's console UART, e.g. serial:/dev/ttyUSB0@115200
  ble:<name-prefix>        a device advertising over BLE, e.g. ble:PROV_ (through BlueZ)

Anything but the simulator needs --device-file (TOML: security, pop or username/password, profile,
[[network]] ssid/password/ip, wrong_password, [console] prefix/prompt, [ble] stack/adapter). Example file:
see the README.

BLE: `--transport ble` against the simulator needs no hardware: with DBUS_SYSTEM_BUS_ADDRESS unset the
suite starts a fake bluetoothd (bluez-loopback) on a private D-Bus and runs itself again on it
(--ble-mtu sets its ATT MTU; 23 forces long reads by offset). --no-loopback uses the system's bluetoothd.

EXAMPLES:
  conformance                                          # the whole matrix against the simulator
  conformance --security 1 --transport http --filter 'SEC1-*'
  conformance --dut console:'sim-device --transport console --security 1' --device-file dev.toml
  conformance --dut serial:/dev/ttyUSB0 --device-file board.toml --profile esp-idf-5.5
  conformance --transport ble --ble-mtu 23               # the simulator over BLE, long reads by offset
  conformance --transport memory                       # no transport, virtual time: about a second
  conformance --dut ble:PROV_ --device-file board.toml --no-loopback
  conformance list                                     # every case ID
  conformance self-check                               # prove each simulator misbehaviour is caught
                                                       # (core defects in memory, HTTP ones over HTTP)

Exit status: 0 when every case passed or was not applicable, 1 when any failed, 2 on usage errors."
)]
pub struct Cli {
    /// What to do (default: run).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Run options.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the catalogue (ID, group, title).
    List,
    /// Run the suite against the simulator with each misbehaviour and show which cases caught it.
    SelfCheck {
        /// Only these misbehaviours (default: all).
        #[arg(long = "only", value_name = "NAME")]
        only: Vec<String>,
        /// Also against the simulator as an external process (the `sim-device` binary over HTTP and
        /// over its console, reset through its control channel): every misbehaviour must be caught
        /// there too, and the well-behaved one pass with every verdict judged.
        #[arg(long)]
        external: bool,
    },
}

/// Options of a run.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Device under test: sim, http://HOST:PORT, console:<command>, serial:<port>[@baud], ble:<prefix>.
    #[arg(long, default_value = "sim", value_parser = parse_dut, global = true)]
    pub dut: DutSpec,
    /// Device description file (TOML); required for anything but the simulator.
    #[arg(long, value_name = "FILE", global = true)]
    pub device_file: Option<PathBuf>,
    /// Expectations profile: esp-idf-5.5, network-prov-1.2, zephyr [default: the device file's, else esp-idf-5.5].
    #[arg(long, global = true)]
    pub profile: Option<Profile>,
    /// Transports for the simulator, comma separated: http,console,ble,memory [default: http,console]
    /// (memory: no transport, in this process on virtual time).
    #[arg(long, value_delimiter = ',', value_parser = parse_transport, global = true)]
    pub transport: Vec<Transport>,
    /// Security schemes for the simulator, comma separated [default: 0,1,2].
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u8).range(0..=2), global = true)]
    pub security: Vec<u8>,
    /// Only cases whose ID matches: comma-separated patterns, `*` wildcard, case-insensitive substring.
    #[arg(long, global = true)]
    pub filter: Option<String>,
    /// Where the reports go.
    #[arg(long, default_value = "reports", value_name = "DIR", global = true)]
    pub report_dir: PathBuf,
    /// Start the simulator with a deliberate defect (for testing the suite itself).
    #[arg(long, value_name = "NAME", global = true)]
    pub misbehave: Vec<String>,
    /// Skip the golden-vector replay.
    #[arg(long, global = true)]
    pub no_golden: bool,
    /// Print every case, not just failures.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// BLE stack the simulator models: nimble (keeps the link after a failed request) or bluedroid
    /// (drops it, and the session: cases that go on after a rejected request then fail).
    #[arg(long, value_name = "STACK", value_parser = parse_stack, default_value = "nimble", global = true)]
    pub ble_stack: BleStack,
    /// ATT MTU of the BLE loopback the suite starts (23..=517; 23 forces long reads by offset).
    #[arg(long, value_name = "N", default_value_t = 517, value_parser = clap::value_parser!(u16).range(23..=517), global = true)]
    pub ble_mtu: u16,
    /// The BLE client's adapter [default: the device file's, else hci0 or the first].
    #[arg(long, value_name = "NAME", global = true)]
    pub ble_adapter: Option<String>,
    /// Never start the BLE loopback: use the bus in DBUS_SYSTEM_BUS_ADDRESS or the system's bluetoothd.
    #[arg(long, global = true)]
    pub no_loopback: bool,
}

fn parse_stack(s: &str) -> Result<BleStack, String> {
    s.parse()
}

fn parse_dut(s: &str) -> Result<DutSpec, String> {
    s.parse()
}

fn parse_transport(s: &str) -> Result<Transport, String> {
    match s.parse()? {
        Transport::Serial => Err(
            "the simulator is reached over http, console, ble or memory (serial is a board's UART: --dut serial:PORT)"
                .into(),
        ),
        t => Ok(t),
    }
}

/// Parses misbehaviour names, listing the valid ones on error.
pub fn misbehaviours(names: &[String]) -> Result<BTreeSet<Misbehaviour>, String> {
    names
        .iter()
        .map(|n| {
            Misbehaviour::from_name(n).ok_or_else(|| {
                let all: Vec<_> = Misbehaviour::ALL.iter().map(|m| m.name()).collect();
                format!("unknown misbehaviour {n:?}; known: {}", all.join(", "))
            })
        })
        .collect()
}

impl RunArgs {
    /// The request these options describe.
    pub fn request(&self) -> Result<Request, String> {
        let desc = match &self.device_file {
            Some(p) => Some(Description::load(p)?),
            None => None,
        };
        let profile = match (
            self.profile,
            desc.as_ref().and_then(|d| d.profile.as_deref()),
        ) {
            (Some(p), _) => p,
            (None, Some(p)) => p.parse()?,
            (None, None) => Profile::EspIdf55,
        };
        let misbehave = misbehaviours(&self.misbehave)?;
        if !misbehave.is_empty() && self.dut != DutSpec::Sim {
            return Err("--misbehave applies to the embedded simulator only".into());
        }
        let transports = if self.transport.is_empty() {
            vec![Transport::Http, Transport::Console]
        } else {
            self.transport.clone()
        };
        let securities = if self.security.is_empty() {
            vec![0, 1, 2]
        } else {
            self.security.clone()
        };
        Ok(Request {
            dut: self.dut.clone(),
            desc,
            profile,
            transports,
            securities,
            filter: self.filter.clone(),
            misbehave,
            verbose: self.verbose,
            quiet: false,
            ble: BleRequest {
                stack: self.ble_stack,
                adapter: self.ble_adapter.clone(),
            },
        })
    }

    /// Whether this run reaches the embedded simulator over BLE and no bus was given, so the suite has
    /// to start its BLE loopback (and run again on it).
    pub fn needs_ble_loopback(&self) -> bool {
        self.dut == DutSpec::Sim
            && self.transport.contains(&Transport::Ble)
            && crate::dut::ble::loopback::wanted(self.no_loopback)
    }
}

/// Entry point of the binary.
pub fn main(cli: Cli) -> ExitCode {
    // The embedded simulator logs through `tracing`; RUST_LOG (e.g. `sim_device=debug`) shows it.
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(sim_device::runtime::logfilter::from_env("warn"))
            .with_writer(std::io::stderr)
            .try_init();
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("conformance: {e}");
            ExitCode::from(2)
        }
    }
}

fn runtime() -> Result<Arc<tokio::runtime::Runtime>, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map(Arc::new)
        .map_err(|e| format!("tokio runtime: {e}"))
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    if !matches!(cli.command, Some(Command::List)) && cli.run.needs_ble_loopback() {
        return crate::dut::ble::loopback::rerun(cli.run.ble_mtu);
    }
    let mut catalogue = crate::cases::catalogue();
    if !cli.run.no_golden || matches!(cli.command, Some(Command::List)) {
        catalogue.extend(crate::golden::cases()?);
    }
    match cli.command {
        Some(Command::List) => {
            for c in &catalogue {
                println!("{:<32} {:<9} {}", c.id, c.group.name(), c.title);
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::SelfCheck { only, external }) => {
            let rt = runtime()?;
            let chosen: Vec<Misbehaviour> = misbehaviours(&only)?.into_iter().collect();
            let explicit = (!cli.run.transport.is_empty()).then_some(cli.run.transport.as_slice());
            let base = cli.run.request()?;
            let rows = crate::selfcheck::rows(&base, explicit, &chosen, &catalogue, &rt)?;
            let ext = if external {
                eprintln!("now the simulator as an external process (HTTP and console):");
                Some(crate::selfcheck::external::rows(
                    &base, &rows, &catalogue, &rt,
                )?)
            } else {
                None
            };
            println!(
                "{}",
                crate::report::render_self_check(&rows, ext.as_deref())
            );
            let path = crate::report::write_self_check(&rows, ext.as_deref(), &cli.run.report_dir)
                .map_err(|e| format!("writing {}: {e}", cli.run.report_dir.display()))?;
            println!("table written to {}", path.display());
            let ok = rows
                .iter()
                .chain(ext.iter().flatten())
                .all(SelfCheckRow::ok);
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        None => {
            let req = cli.run.request()?;
            let rt = runtime()?;
            let started = Instant::now();
            let run = crate::matrix::run(&req, &catalogue, &rt)?;
            let written = crate::report::write_all(&run, &cli.run.report_dir)
                .map_err(|e| format!("writing reports to {}: {e}", cli.run.report_dir.display()))?;
            print_summary(&run);
            Ok(finish(&run, &written, &[], started.elapsed()))
        }
    }
}

fn print_summary(run: &crate::model::RunReport) {
    print_columns(&run.columns, "    time", |c| {
        format!("{:>7.1}s", c.duration.as_secs_f64())
    });
}

/// A row per column with its tallies, then `last` (headed `last_header`): the table a run ends with.
pub fn print_columns(
    columns: &[crate::model::ColumnReport],
    last_header: &str,
    last: impl Fn(&crate::model::ColumnReport) -> String,
) {
    let width = columns
        .iter()
        .map(|c| c.column.label().len())
        .max()
        .unwrap_or(0)
        .max("column".len());
    println!(
        "{:<width$} {:>6} {:>6} {:>6} {:>6} {:>6} {last_header}",
        "column", "pass", "fail", "crash", "n/j", "n/a"
    );
    for c in columns {
        let t = c.tally();
        println!(
            "{:<width$} {:>6} {:>6} {:>6} {:>6} {:>6} {}",
            c.column.label(),
            t.pass,
            t.fail,
            t.crashed,
            t.not_judged,
            t.skip,
            last(c)
        );
    }
}

/// The end of a run on the terminal: where the reports are (`written`, then `more`), the crash summary
/// and the closing `N passed, N failed…` line; the exit status (failure when a case failed or crashed).
pub fn finish(
    run: &crate::model::RunReport,
    written: &crate::report::Written,
    more: &[std::path::PathBuf],
    took: std::time::Duration,
) -> ExitCode {
    println!("reports:");
    for p in [
        &written.junit,
        &written.markdown,
        &written.html,
        &written.json,
    ]
    .into_iter()
    .chain(more)
    {
        println!("  {}", p.display());
    }
    let t = run.tally();
    if let Some(crashes) = run.crash_summary() {
        println!("the {crashes}");
    }
    let mut counts = format!("{} passed, {} failed", t.pass, t.fail);
    if t.crashed > 0 {
        counts.push_str(&format!(", {} crashed", t.crashed));
    }
    if t.not_judged > 0 {
        counts.push_str(&format!(", {} not judged", t.not_judged));
    }
    println!(
        "{counts}, {} not applicable in {:.1} s",
        t.skip,
        took.as_secs_f64()
    );
    if t.failing() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
