//! The suite end to end: the default matrix against the embedded simulator passes and writes its reports,
//! and every deliberate misbehaviour of the simulator is caught by at least one case.

use std::sync::Arc;

use conformance::cli::RunArgs;
use conformance::dut::DutSpec;
use conformance::matrix::Request;
use conformance::model::Verdict;
use prov_client::Profile;
use sim_device::misbehave::Misbehaviour;

fn runtime() -> Arc<tokio::runtime::Runtime> {
    Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime"),
    )
}

fn default_request() -> Request {
    Request {
        dut: DutSpec::Sim,
        desc: None,
        profile: Profile::EspIdf55,
        transports: vec![
            conformance::link::Transport::Http,
            conformance::link::Transport::Console,
        ],
        securities: vec![0, 1, 2],
        filter: None,
        misbehave: Default::default(),
        verbose: false,
        quiet: true,
        golden: true,
        ble: Default::default(),
    }
}

#[test]
fn default_matrix_passes_and_writes_reports() {
    let rt = runtime();
    let catalogue = conformance::cases::catalogue();
    let run = conformance::matrix::run(&default_request(), &catalogue, &rt).expect("run");
    let failures: Vec<String> = run
        .columns
        .iter()
        .flat_map(|c| {
            c.results.iter().filter_map(move |r| match &r.verdict {
                Verdict::Fail(why) => Some(format!("{} {}: {why}", c.column.label(), r.id)),
                _ => None,
            })
        })
        .collect();
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
    assert_eq!(run.columns.len(), 6, "http/console × sec0/1/2");
    let t = run.tally();
    assert!(t.pass > 200, "suspiciously few passes: {t:?}");
    // Golden replay ran byte-exact in every column where it can.
    for sec in 0..=2u8 {
        let col = run
            .columns
            .iter()
            .find(|c| c.column.transport == "http" && c.column.security == sec)
            .expect("http column");
        let golden = col.results.iter().filter(|r| r.group == "golden");
        assert!(
            golden.clone().count() >= 4 && golden.clone().all(|r| r.verdict == Verdict::Pass),
            "golden replay over http/sec{sec}"
        );
    }
    let dir = std::env::temp_dir().join(format!("provlab-reports-{}", std::process::id()));
    let w = conformance::report::write_all(&run, &dir).expect("reports");
    let junit = std::fs::read_to_string(&w.junit).expect("junit");
    assert!(junit.contains(&format!("tests=\"{}\"", t.pass + t.fail + t.skip)));
    assert!(std::fs::read_to_string(&w.html)
        .expect("html")
        .contains("SEC1-POP-WRONG"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn self_check_catches_every_misbehaviour() {
    let rt = runtime();
    let catalogue = conformance::cases::catalogue();
    let args = RunArgs {
        dut: DutSpec::Sim,
        device_file: None,
        profile: None,
        transport: Vec::new(),
        security: Vec::new(),
        filter: None,
        report_dir: std::env::temp_dir().join(format!("provlab-selfcheck-{}", std::process::id())),
        misbehave: Vec::new(),
        no_golden: false,
        verbose: false,
        ble_stack: Default::default(),
        ble_mtu: 517,
        ble_adapter: None,
        no_loopback: false,
    };
    let rows = conformance::selfcheck::rows(&args, &[], &catalogue, &rt).expect("self-check");
    println!("{}", conformance::selfcheck::render(&rows));
    assert_eq!(rows.len(), Misbehaviour::ALL.len() + 1);
    // Over HTTP and the console every misbehaviour but the BLE ones is exercised (tests/ble.rs covers
    // those through the loopback).
    let exercised = rows
        .iter()
        .filter(|r| r.misbehaviour.is_some() && r.not_exercised.is_none());
    assert!(exercised.count() >= 12);
    for r in &rows {
        assert_eq!(
            r.not_exercised.is_some(),
            r.misbehaviour.and_then(Misbehaviour::transport) == Some("ble"),
            "{:?}",
            r.misbehaviour
        );
    }
    for r in &rows {
        assert!(
            r.ok(),
            "{:?}: caught by {:?}",
            r.misbehaviour.map(Misbehaviour::name),
            r.caught_by
        );
    }
    let _ = std::fs::remove_dir_all(&args.report_dir);
}
