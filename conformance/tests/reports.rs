//! What users read, as snapshots (`insta`): `summary.md`, `junit.xml` and `matrix.html` of a small
//! fixed run. The run is real (the in-memory simulator, Security 0, a few cases, with deliberate
//! misbehaviours so that a case fails, one crashes the device and one is not applicable); only its
//! clock readings are pinned,
//! so the snapshots change exactly when a renderer or a verdict does.

use std::sync::Arc;
use std::time::Duration;

use conformance::dut::DutSpec;
use conformance::link::Transport;
use conformance::matrix::Request;
use conformance::model::RunReport;
use prov_client::Profile;
use sim_device::misbehave::Misbehaviour;

fn fixed_run() -> RunReport {
    let rt = Arc::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime"),
    );
    let req = Request {
        dut: DutSpec::Sim,
        desc: None,
        profile: Profile::EspIdf55,
        transports: vec![Transport::Memory],
        securities: vec![0],
        filter: Some(
            "VER-CAPS,VER-SEC-PATCH,SCAN-RESULT-BEYOND-COUNT,HTTP-SET-COOKIE-ONCE,CFG-SET-MISSING-PAYLOAD"
                .into(),
        ),
        misbehave: [Misbehaviour::ScanOverrun, Misbehaviour::CrashOnMissingPayload]
            .into_iter()
            .collect(),
        verbose: false,
        quiet: true,
        ble: Default::default(),
    };
    let mut run =
        conformance::matrix::run(&req, &conformance::cases::catalogue(), &rt).expect("run");
    // Pin what the clock decides.
    run.started = "2026-12-03T00:00:00Z".into();
    run.duration = Duration::from_millis(42);
    for col in &mut run.columns {
        col.duration = Duration::from_millis(42);
        for r in &mut col.results {
            r.duration = Duration::from_millis(7);
            for x in &mut r.transcript {
                x.at_ms = 0;
            }
        }
    }
    run
}

#[test]
fn reports_of_a_fixed_run() {
    let run = fixed_run();
    let t = run.tally();
    assert_eq!((t.pass, t.fail, t.skip, t.crashed), (2, 1, 1, 1), "{t:?}");
    insta::assert_snapshot!("summary.md", conformance::report::render_markdown(&run));
    insta::assert_snapshot!("junit.xml", conformance::report::render_junit(&run));
    insta::assert_snapshot!("matrix.html", conformance::report::render_html(&run));
}

/// The same run as a HIL board's column: the board's facts and its console log (escaped: a log is peer
/// output) join every report.
#[test]
fn reports_of_a_board() {
    let mut run = fixed_run();
    for col in &mut run.columns {
        col.board = Some(conformance::model::BoardReport {
            id: "c3-01".into(),
            chip: "esp32c3".into(),
            properties: vec![
                ("flash_ms".into(), "20512".into()),
                ("ready_ms".into(), "1312".into()),
                ("recovery_1".into(), "usb reset after: no readiness line".into()),
            ],
            log: "[    0.012] rst:0x1 (POWERON),boot:0xc (SPI_FAST_FLASH_BOOT)\n\
                  [    1.312] I (1045) wifi_prov_mgr: Provisioning started with service name : PROV_1E2210\n\
                  [    2.001] <script>&\"]]></system-out>\n"
                .into(),
        });
    }
    insta::assert_snapshot!(
        "board-summary.md",
        conformance::report::render_markdown(&run)
    );
    insta::assert_snapshot!("board-junit.xml", conformance::report::render_junit(&run));
    insta::assert_snapshot!("board-matrix.html", conformance::report::render_html(&run));
}
