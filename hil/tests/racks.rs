//! The `hil` command end to end on the example racks: virtual boards are `sim-device` processes behind
//! the same pipeline as chips (flash, NVS erase, reset, readiness line, console watch, reports).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A fresh directory for one test's reports, state and locks.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("provlab-hil-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// Runs `hil` with `args`, state and locks kept in `dir`.
fn hil(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hil"))
        .args(args)
        .arg("--work-dir")
        .arg(dir.join("work"))
        .arg("--lock-dir")
        .arg(dir.join("locks"))
        .arg("--report-dir")
        .arg(dir.join("reports"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run hil")
}

fn text(out: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One case of `run.json`: its id, its verdict's name, the whole verdict as JSON.
type Judged = (String, String, String);

/// `run.json`: per board id, its column's cases.
fn verdicts(reports: &Path) -> Vec<(String, Vec<Judged>)> {
    let run: Value = serde_json::from_slice(&std::fs::read(reports.join("run.json")).unwrap())
        .expect("run.json");
    let mut boards = Vec::new();
    for col in run["columns"].as_array().expect("columns") {
        let id = col["board"]["id"]
            .as_str()
            .expect("a board column")
            .to_owned();
        let cases = col["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| {
                let v = &r["verdict"];
                (
                    r["id"].as_str().unwrap_or_default().to_owned(),
                    v["verdict"].as_str().unwrap_or_default().to_owned(),
                    v.to_string(),
                )
            })
            .collect();
        boards.push((id, cases));
    }
    boards
}

fn count(cases: &[Judged], verdict: &str) -> usize {
    cases.iter().filter(|c| c.1 == verdict).count()
}

#[test]
fn the_example_racks_pass_a_dry_run() {
    let dir = scratch("dry");
    for rack in ["virtual-rack.toml", "fault-rack.toml"] {
        let out = hil(&dir, &["--rack", &format!("examples/{rack}"), "--dry-run"]);
        let all = text(&out);
        assert!(out.status.success(), "{rack}: {all}");
        assert!(all.contains("inventory and firmware OK"), "{all}");
        assert!(all.contains("NVS 0x9000..0xf000"), "{all}");
    }
    assert!(!dir.join("reports").exists(), "a dry run writes no reports");
}

#[test]
fn a_broken_inventory_names_the_file_the_board_and_the_field() {
    let dir = scratch("broken");
    let good = std::fs::read_to_string(examples().join("virtual-rack.toml")).unwrap();
    let firmware = examples().join("firmware");
    let good = good.replace("firmware/", &format!("{}/", firmware.display()));
    let f = dir.join("rack.toml");
    // Fields first (every broken one at once), then the firmware each board names.
    for (broken, wants) in [
        (
            good.replace("mac = \"58:cf:79:00:00:02\"", "mac = \"58:cf:79:00:02\"")
                .replace("chip = \"esp32s3\"", "chip = \"esp32s9\""),
            vec![
                "board \"c3-softap\": field `mac`: \"58:cf:79:00:02\" is not six hex bytes",
                "board \"s3-ble\": field `chip`: unknown chip \"esp32s9\"",
            ],
        ),
        (
            good.replace(
                "prov-console-sec1/flasher_args.json",
                "no-such-build/flasher_args.json",
            ),
            vec!["board \"esp32-console\": field `firmware.flasher_args`: "],
        ),
    ] {
        std::fs::write(&f, broken).unwrap();
        let out = hil(&dir, &["--rack", f.to_str().unwrap(), "--dry-run"]);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{all}");
        for want in wants {
            let want = format!("{}: {want}", f.display());
            assert!(all.contains(&want), "missing {want:?} in {all}");
        }
    }
}

#[test]
fn the_virtual_rack_passes_on_every_board() {
    let dir = scratch("virtual");
    let out = hil(&dir, &["--rack", "examples/virtual-rack.toml"]);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    let reports = dir.join("reports");
    let boards = verdicts(&reports);
    let ids: Vec<&str> = boards.iter().map(|b| b.0.as_str()).collect();
    assert_eq!(ids, ["esp32-console", "c3-softap", "s3-ble"], "{all}");
    for (id, cases) in &boards {
        assert_eq!(cases[0].0, "HIL-BOARD", "{id}");
        assert!(count(cases, "pass") > 80, "{id}: {cases:?}");
        for (case, verdict, full) in cases {
            assert!(
                verdict == "pass" || verdict == "skip",
                "{id} {case}: {full}"
            );
        }
    }
    for (id, class, name) in [
        ("esp32-console", "esp32.serial", "PROV_000001"),
        ("c3-softap", "esp32c3.http", "PROV_000002"),
        ("s3-ble", "esp32s3.ble", "PROV_000003"),
    ] {
        let junit = std::fs::read_to_string(reports.join(format!("boards/{id}/junit.xml")))
            .unwrap_or_else(|e| panic!("{id}'s JUnit: {e}"));
        assert!(junit.contains(&format!("classname=\"{class}\"")), "{id}");
        assert!(junit.contains("<property name=\"ready_ms\""), "{id}");
        assert!(
            junit.contains(&format!("Provisioning started with service name : {name}")),
            "{id}: the console log is in system-out"
        );
    }
    let matrix = std::fs::read_to_string(reports.join("matrix.html")).unwrap();
    for id in ids {
        assert!(matrix.contains(id), "the matrix has a column for {id}");
    }
    assert!(all.contains(" passed, 0 failed, "), "{all}");
    assert!(!all.contains("crashed"), "{all}");
}

#[test]
fn the_fault_rack_isolates_each_faulty_board() {
    let dir = scratch("fault");
    let out = hil(&dir, &["--rack", "examples/fault-rack.toml"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let reports = dir.join("reports");
    let boards = verdicts(&reports);
    let board = |id: &str| {
        &boards
            .iter()
            .find(|b| b.0 == id)
            .unwrap_or_else(|| panic!("no column for {id}: {all}"))
            .1
    };
    for id in ["healthy-console", "healthy-softap"] {
        let cases = board(id);
        assert!(count(cases, "pass") > 80, "{id}: {all}");
        for (case, verdict, full) in cases {
            assert!(
                verdict == "pass" || verdict == "skip",
                "{id} {case}: {full}"
            );
        }
    }
    // Set-up failures: the board case fails with the reason, every case after it is not judged.
    for (id, reason) in [
        ("flash-fails", "the flash chip does not answer"),
        ("never-ready", "no readiness line"),
    ] {
        let cases = board(id);
        assert_eq!(cases[0].0, "HIL-BOARD");
        assert!(cases[0].2.contains(reason), "{id}: {:?}", cases[0]);
        assert_eq!(count(cases, "pass"), 0, "{id}");
        assert!(count(cases, "notjudged") > 80, "{id}: {cases:?}");
    }
    // A crash is the case's verdict, with the panic from the console; the board is reset and goes on.
    let crashing = board("crashes-mid-case");
    let crashed: Vec<_> = crashing.iter().filter(|c| c.1 == "crashed").collect();
    assert!(!crashed.is_empty(), "{crashing:?}");
    assert!(
        crashed[0].2.contains("Guru Meditation Error"),
        "{crashed:?}"
    );
    assert!(count(crashing, "pass") > 80, "it went on after the crash");
    // A console that vanishes: the board case fails, what was left is not judged.
    let vanished = board("console-vanishes");
    assert!(vanished[0].2.contains("console went away"), "{vanished:?}");
    assert!(count(vanished, "notjudged") > 0, "{vanished:?}");
    for id in ["never-ready", "crashes-mid-case", "console-vanishes"] {
        let log = std::fs::read_to_string(reports.join(format!("boards/{id}/console.log")))
            .unwrap_or_else(|e| panic!("{id}'s console log: {e}"));
        assert!(log.contains("rst:0x"), "{id}'s log has its boots");
    }
    assert!(all.contains("faulty boards"), "{all}");
}
