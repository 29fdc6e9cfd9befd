//! Judging a device that keeps its state, with the `sim-device` binary as that device: a crash is
//! named as such and every other verdict is still judged after resets; a device that never comes
//! back ends the column at once with one message; and a console declared without a line limit runs
//! every Security 2 case.

use std::sync::Arc;
use std::time::{Duration, Instant};

use conformance::matrix::Request;
use conformance::model::{RunReport, Verdict};
use conformance::selfcheck::external::{sim_device_binary, SimProcess, Wire};
use prov_client::Profile;
use sim_device::misbehave::Misbehaviour;

fn runtime() -> Arc<tokio::runtime::Runtime> {
    Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime"),
    )
}

fn run(
    process: &SimProcess,
    desc: conformance::description::Description,
    filter: &str,
) -> RunReport {
    let req = Request::device(process.dut.clone(), desc, Some(filter));
    let mut catalogue = conformance::cases::catalogue();
    catalogue.extend(conformance::golden::cases().expect("golden"));
    conformance::matrix::run(&req, &catalogue, &runtime()).expect("run")
}

fn verdicts(run: &RunReport) -> Vec<(String, Verdict)> {
    run.columns
        .iter()
        .flat_map(|c| c.results.iter())
        .map(|r| (r.id.clone(), r.verdict.clone()))
        .collect()
}

const CRASHERS: [&str; 3] = [
    "CFG-SET-MISSING-PAYLOAD",
    "SCAN-START-MISSING-PAYLOAD",
    "SCAN-RESULT-MISSING-PAYLOAD",
];

/// `sim-device` over HTTP for scheme `sec`, crashing on a missing payload.
fn crashing(sec: u8) -> SimProcess {
    let bin = sim_device_binary().expect("sim-device");
    let crash = Some(Misbehaviour::CrashOnMissingPayload);
    SimProcess::start(&bin, Wire::Http, sec, Profile::EspIdf55, crash, &[]).expect("start")
}

#[test]
fn a_crash_is_named_and_everything_else_still_judged() {
    let process = crashing(1);
    let run = run(&process, process.desc.clone(), "VER-*,CFG-*,SCAN-*,SEC1-*");
    let mut crashed = Vec::new();
    for (id, v) in verdicts(&run) {
        match v {
            Verdict::Crashed(why) => {
                assert!(why.contains("boot count"), "{id}: {why}");
                crashed.push(id);
            }
            Verdict::Pass | Verdict::Skip(_) => {}
            other => panic!("{id}: {other:?} (every other verdict must be judged, and pass)"),
        }
    }
    crashed.sort();
    let mut want = CRASHERS.to_vec();
    want.sort();
    assert_eq!(crashed, want, "the crashing cases");
    let summary = run.crash_summary().expect("a crash summary");
    assert!(
        summary.starts_with("device crashed 3 times, first in case "),
        "{summary}"
    );
    let md = conformance::report::render_markdown(&run);
    assert!(md.contains("**The device crashed 3 times"), "{md}");
}

#[test]
fn a_device_that_never_comes_back_ends_the_column_at_once() {
    let process = crashing(0);
    // The reset that follows the crash powers the device off for good.
    let mut desc = process.desc.clone();
    desc.reset.command = Some(format!("kill {}", process.pid()));
    desc.timing.reply_ms = 2_000;
    let started = Instant::now();
    // The crash is the first case that changes the device (cases run least disturbing first); the
    // control cases after it that change the device too are left.
    let run = run(&process, desc, "VER-*,CFG-SET-MISSING-PAYLOAD,CTRL-*");
    let took = started.elapsed();
    let all = verdicts(&run);
    let crashed: Vec<_> = all
        .iter()
        .filter(|(_, v)| matches!(v, Verdict::Crashed(_)))
        .collect();
    let failed = all
        .iter()
        .filter(|(_, v)| matches!(v, Verdict::Fail(_)))
        .count();
    let not_judged: Vec<_> = all
        .iter()
        .filter_map(|(_, v)| match v {
            Verdict::NotJudged(why) => Some(why.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(crashed.len(), 1, "{all:?}");
    assert_eq!(crashed[0].0, "CFG-SET-MISSING-PAYLOAD");
    assert_eq!(failed, 0, "no wall of failures: {all:?}");
    assert!(not_judged.len() >= 4, "{all:?}");
    assert!(
        not_judged
            .iter()
            .all(|w| w.contains("crashed in CFG-SET-MISSING-PAYLOAD and did not come back")),
        "one reason: {not_judged:?}"
    );
    assert!(run.tally().failing() > 0, "the run fails (exit status 1)");
    // The cases before the crash, the crash, and one reply timeout: not one timeout per case left.
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn security_2_runs_over_a_console_without_a_line_limit() {
    let bin = sim_device_binary().expect("sim-device");
    let process =
        SimProcess::start(&bin, Wire::Console, 2, Profile::EspIdf55, None, &[]).expect("start");
    let run = run(
        &process,
        process.desc.clone(),
        "SEC2-*,DATA-*,NEG-SEC2-*,GOLDEN-sec2*",
    );
    let all = verdicts(&run);
    let pass = all.iter().filter(|(_, v)| *v == Verdict::Pass).count();
    let bad: Vec<_> = all
        .iter()
        .filter(|(_, v)| !matches!(v, Verdict::Pass | Verdict::Skip(_)))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
    assert!(
        pass >= 15,
        "only {pass} Security 2 cases ran over the console: {all:?}"
    );
}
