//! The matrix a run covers: which devices, over which transports, with which security schemes, and
//! the run that fills it in with the cases it is given (the catalogue, golden replays included).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use sim_device::misbehave::Misbehaviour;
use tokio::runtime::Runtime;

use crate::case::Case;
use crate::description::{BleStack, Description};
use crate::dut::ble::BleDut;
use crate::dut::http::{HttpDut, Rejection};
use crate::dut::process::ProcessDut;
use crate::dut::serial::SerialDut;
use crate::dut::sim::{SimDut, SimSetup};
use crate::dut::{Dut, DutSpec};
use crate::link::Transport;
use crate::model::{ColumnReport, RunReport};
use crate::runner::{self, Filter, Plan, Progress};
use prov_client::Profile;

/// What the user asked for.
#[derive(Clone, Debug)]
pub struct Request {
    /// The device.
    pub dut: DutSpec,
    /// Its description (required for anything but the simulator).
    pub desc: Option<Description>,
    /// Expectations profile.
    pub profile: Profile,
    /// Transports to cover (simulator only; other devices have one).
    pub transports: Vec<Transport>,
    /// Schemes to cover (simulator only; other devices run the one in their description).
    pub securities: Vec<u8>,
    /// Case filter.
    pub filter: Option<String>,
    /// Simulator misbehaviours (self-check).
    pub misbehave: BTreeSet<Misbehaviour>,
    /// Print every case.
    pub verbose: bool,
    /// Print nothing while running (self-check runs many matrices).
    pub quiet: bool,
    /// BLE settings.
    pub ble: BleRequest,
}

impl Request {
    /// A quiet run of the cases `filter` selects (all with `None`) against the device at `dut`, described
    /// by `desc`, judged by the profile the description names (ESP-IDF 5.5 otherwise).
    pub fn device(dut: DutSpec, desc: Description, filter: Option<&str>) -> Self {
        let profile = desc
            .profile
            .as_deref()
            .and_then(|p| p.parse().ok())
            .unwrap_or_default();
        Self {
            dut,
            desc: Some(desc),
            profile,
            transports: Vec::new(),
            securities: Vec::new(),
            filter: filter.map(str::to_owned),
            misbehave: BTreeSet::new(),
            verbose: false,
            quiet: true,
            ble: BleRequest::default(),
        }
    }
}

/// BLE settings of a run.
#[derive(Clone, Debug, Default)]
pub struct BleRequest {
    /// The stack the simulator models.
    pub stack: BleStack,
    /// The client's adapter (the device file's `[ble] adapter` otherwise).
    pub adapter: Option<String>,
}

/// One column ready to run.
pub struct Column {
    /// The device.
    pub dut: Box<dyn Dut>,
    /// Its description.
    pub desc: Description,
}

/// Builds the columns of `req`.
pub fn columns(req: &Request, rt: &Arc<Runtime>) -> Result<Vec<Column>, String> {
    let mut out = Vec::new();
    match &req.dut {
        DutSpec::Sim => {
            if !req.profile.simulated() {
                return Err(format!(
                    "the simulator has no {} profile; pick esp-idf-5.5 or network-prov-1.2",
                    req.profile
                ));
            }
            let sim_profile = req.profile;
            for &t in &req.transports {
                if t == Transport::Serial {
                    return Err(
                        "the simulator is reached over http, console, ble or memory, not serial"
                            .into(),
                    );
                }
                for &sec in &req.securities {
                    let setup = SimSetup::defaults(sec, sim_profile, &req.misbehave)?;
                    let mut desc = Description::simulator(sec);
                    let mut dut = SimDut::new(t, setup, rt.clone(), "sim".into());
                    if t == Transport::Ble {
                        desc.ble.stack = Some(req.ble.stack);
                        desc.ble.adapter = req.ble.adapter.clone();
                        desc.ble.scan_ms = 10_000;
                        dut = dut.with_ble(&desc.ble)?;
                    }
                    out.push(Column {
                        dut: Box::new(dut),
                        desc,
                    });
                }
            }
        }
        DutSpec::Http(a) => {
            let desc = need_desc(req)?;
            let timeout = desc.reply_timeout();
            out.push(Column {
                dut: Box::new(HttpDut::new(a.clone(), timeout, Rejection::of(req.profile))),
                desc,
            });
        }
        DutSpec::Console(cmd) => {
            let desc = need_desc(req)?;
            let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
            out.push(Column {
                dut: Box::new(ProcessDut::new(cmd.clone(), desc.line_options(), jobs)),
                desc,
            });
        }
        DutSpec::Ble(prefix) => {
            let mut desc = need_desc(req)?;
            if req.ble.adapter.is_some() {
                desc.ble.adapter = req.ble.adapter.clone();
            }
            out.push(Column {
                dut: Box::new(BleDut::new(prefix.clone(), &desc)?),
                desc,
            });
        }
        DutSpec::Serial { port, baud } => {
            let desc = need_desc(req)?;
            out.push(Column {
                dut: Box::new(SerialDut::new(port.clone(), *baud, desc.line_options())),
                desc,
            });
        }
    }
    Ok(out)
}

fn need_desc(req: &Request) -> Result<Description, String> {
    req.desc.clone().ok_or_else(|| {
        format!(
            "--dut {} needs --device-file (security, PoP or password, networks); see `conformance --help`",
            req.dut
        )
    })
}

/// Runs the cases of `catalogue` that the request's filter selects over every column.
pub fn run(req: &Request, catalogue: &[Case], rt: &Arc<Runtime>) -> Result<RunReport, String> {
    let started_at = SystemTime::now();
    let started = Instant::now();
    let cols = columns(req, rt)?;
    let filter = Filter::new(req.filter.as_deref());
    let cases: Vec<&Case> = catalogue.iter().filter(|c| filter.matches(&c.id)).collect();
    let total = cols.len() * cases.len();
    if total == 0 {
        return Err(format!(
            "the filter {:?} selects no case; `conformance list` shows the IDs",
            req.filter.as_deref().unwrap_or("")
        ));
    }
    let progress = Progress::new(total, req.verbose, req.quiet);
    // Columns are independent devices: run them side by side when each connection is a fresh one.
    let one = |col: &Column| {
        let plan = Plan {
            dut: col.dut.as_ref(),
            desc: &col.desc,
            profile: req.profile,
        };
        runner::run_column(&plan, &cases, &progress)
    };
    // BLE columns run one at a time: every BLE device and link goes through the one loopback process,
    // and three columns of eight at once made it the bottleneck, not faster.
    let side_by_side = cols
        .iter()
        .all(|c| c.dut.fresh_per_connect() && c.dut.transport() != Transport::Ble);
    let columns: Vec<ColumnReport> = if side_by_side {
        std::thread::scope(|s| {
            let hs: Vec<_> = cols.iter().map(|c| s.spawn(|| one(c))).collect();
            hs.into_iter()
                .map(|h| {
                    h.join()
                        .map_err(|_| "a column thread panicked (suite bug)".to_owned())
                })
                .collect::<Result<_, _>>()
        })?
    } else {
        cols.iter().map(one).collect()
    };
    progress.finish();
    Ok(RunReport {
        tool: format!("provlab-conformance {}", env!("CARGO_PKG_VERSION")),
        started: rfc3339(started_at),
        duration: started.elapsed(),
        filter: req.filter.clone(),
        columns,
    })
}

/// `SystemTime` as RFC 3339 UTC, without a date crate.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), valid for the proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        let at = |s| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s);
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(at(1_795_219_200)), "2026-11-21T00:00:00Z");
    }
}
