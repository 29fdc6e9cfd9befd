//! The suite end to end on the in-memory simulator (no transport, virtual time): the whole catalogue and
//! the golden replay pass, byte-exact, and the reports are written; and every deliberate misbehaviour
//! of the simulator is caught by at least one case (the self-check as `conformance self-check` runs it:
//! the core's defects in memory, the HTTP transport's over HTTP). `cargo xtask conformance` covers the
//! HTTP and console columns, `tests/ble.rs` BLE.

use std::sync::Arc;

use conformance::dut::DutSpec;
use conformance::link::Transport;
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
        transports: vec![Transport::Memory],
        securities: vec![0, 1, 2],
        filter: None,
        misbehave: Default::default(),
        verbose: false,
        quiet: true,
        ble: Default::default(),
    }
}

fn catalogue() -> Vec<conformance::case::Case> {
    let mut all = conformance::cases::catalogue();
    all.extend(conformance::golden::cases().expect("golden scenarios"));
    all
}

#[test]
fn memory_matrix_passes_and_writes_reports() {
    let rt = runtime();
    let catalogue = catalogue();
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
    assert_eq!(run.columns.len(), 3, "memory × sec0/1/2");
    let t = run.tally();
    assert!(t.pass >= 240, "suspiciously few passes: {t:?}");
    // Every golden scenario ran byte-exact in the column of its scheme.
    let golden: Vec<_> = run
        .columns
        .iter()
        .flat_map(|c| c.results.iter())
        .filter(|r| r.group == "golden" && r.verdict == Verdict::Pass)
        .collect();
    assert_eq!(golden.len(), vectors::EMBEDDED.len(), "golden passes");
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
    let catalogue = catalogue();
    let rows = conformance::selfcheck::rows(&default_request(), None, &[], &catalogue, &rt)
        .expect("self-check");
    println!("{}", conformance::report::render_self_check(&rows, None));
    assert_eq!(rows.len(), Misbehaviour::ALL.len() + 1);
    // Every misbehaviour but the BLE one is exercised (tests/ble.rs covers that through the loopback).
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
}
