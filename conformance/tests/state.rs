//! Every case's declared [`Leaves`] is checked, not trusted: each case runs against the in-memory
//! simulator (every scheme, both simulated profiles) and the state the device is left in is compared
//! with what the case declares (for a golden replay, which declares the most a scenario may leave, it
//! must not be more). On a device that keeps its state the runner orders and resets by
//! these declarations, so a wrong one would leak state between cases.

use std::sync::{Arc, Mutex};

use conformance::case::{Env, Leaves};
use conformance::description::Description;
use conformance::dut::memory::MemoryLink;
use conformance::dut::sim::SimSetup;
use conformance::dut::{Boot, Dut};
use conformance::link::{Link, LinkError, Transport};
use conformance::model::Verdict;
use prov_client::Profile;
use sim_device::runtime::{Board, SimOptions};

/// The in-memory simulator, keeping a handle on the board of the last link.
struct Observed {
    setup: SimSetup,
    last: Mutex<Option<Arc<Mutex<Board>>>>,
}

impl Dut for Observed {
    fn label(&self) -> String {
        "observed".into()
    }
    fn transport(&self) -> Transport {
        Transport::Memory
    }
    fn fresh_per_connect(&self) -> bool {
        true
    }
    fn parallelism(&self) -> usize {
        1
    }
    fn boots_recordings(&self) -> bool {
        true
    }
    fn connect(&self, boot: &Boot) -> Result<Box<dyn Link>, LinkError> {
        let setup = match boot {
            Boot::Standard => self.setup.clone(),
            Boot::Recording(s) => {
                SimSetup::recording(s, &Default::default()).map_err(LinkError::Unreachable)?
            }
        };
        let board = Board::boot(SimOptions {
            device: setup.config,
            world: setup.world,
            store: None,
            seed: None,
            rng: setup.rng,
            virtual_clock: true,
            event_history: sim_device::runtime::DEFAULT_HISTORY,
        })
        .map_err(LinkError::Unreachable)?;
        let board = Arc::new(Mutex::new(board));
        *self.last.lock().unwrap() = Some(board.clone());
        Ok(Box::new(MemoryLink::shared(board)))
    }
}

/// What the board shows it was left with.
fn observed(board: &Board) -> Leaves {
    let d = board.device();
    if !d.is_running() || board.boot_count() > 0 {
        Leaves::Stopped
    } else if d.service_state() != sim_device::ServiceState::Started || d.is_provisioned() {
        Leaves::Applied
    } else if d.staged() {
        Leaves::Staged
    } else if d.scan_results() > 0 {
        Leaves::Scanned
    } else {
        Leaves::Nothing
    }
}

#[test]
fn every_case_leaves_what_it_declares() {
    let mut catalogue = conformance::cases::catalogue();
    catalogue.extend(conformance::golden::cases().expect("golden"));
    let mut wrong = Vec::new();
    let mut checked = 0;
    for profile in Profile::SIMULATED {
        for sec in 0..=2u8 {
            let setup = SimSetup::defaults(sec, profile, &Default::default()).expect("setup");
            let dut = Observed {
                setup,
                last: Mutex::new(None),
            };
            let desc = Description::simulator(sec);
            let env = Env {
                desc: &desc,
                profile,
                transport: Transport::Memory,
                security: sec,
                recordings: true,
            };
            for case in &catalogue {
                let result = conformance::runner::run_case(&dut, case, env);
                let Some(board) = dut.last.lock().unwrap().take() else {
                    continue; // not applicable: no device was booted
                };
                if matches!(result.verdict, Verdict::Skip(_)) {
                    continue;
                }
                let seen = observed(&board.lock().unwrap());
                checked += 1;
                // A golden replay declares the most it may leave (a stopped service): it runs last.
                let golden = case.id.starts_with("GOLDEN-");
                if (golden && seen > case.leaves) || (!golden && seen != case.leaves) {
                    wrong.push(format!(
                        "{} ({profile}, sec{sec}): declares {:?}, left {seen:?} ({})",
                        case.id,
                        case.leaves,
                        result.verdict.word()
                    ));
                }
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(checked > 400, "only {checked} case runs checked");
    assert!(
        wrong.is_empty(),
        "{} mismatches:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
