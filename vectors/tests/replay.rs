//! Replays the committed ESP-IDF golden vectors against the virtual device, and checks that the
//! harness really fails on vectors that do not match.

use std::path::PathBuf;

use serde_json::Value;
use vectors::{Outcome, ScenarioReport};

fn vector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("esp-idf")
}

fn read_vector(name: &str) -> Value {
    let path = vector_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn describe(report: &ScenarioReport) -> String {
    let mut out = format!("{}\n", report.summary_line());
    for m in &report.mismatches {
        out.push_str(&format!("    {m}\n"));
    }
    for p in &report.rng_problems {
        out.push_str(&format!("    rng: {p}\n"));
    }
    out
}

/// Returns the `transcript` step with the given number.
fn step_mut(vector: &mut Value, number: u64) -> &mut Value {
    vector["transcript"]
        .as_array_mut()
        .and_then(|steps| {
            steps
                .iter_mut()
                .find(|s| s["step"].as_u64() == Some(number))
        })
        .unwrap_or_else(|| panic!("no step {number}"))
}

#[test]
fn all_esp_idf_vectors_pass() {
    let reports = vectors::replay_dir(&vector_dir()).unwrap_or_else(|e| panic!("{e}"));

    // Every scenario listed in index.json was replayed, with its full step count.
    let index = read_vector("index");
    let listed = index["scenarios"]
        .as_array()
        .expect("index.json: scenarios");
    assert_eq!(
        reports.len(),
        listed.len(),
        "scenario count differs from index.json"
    );
    assert_eq!(reports.len(), 18);
    for entry in listed {
        let name = entry["scenario"]
            .as_str()
            .expect("index.json: scenario name");
        let report = reports
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name} listed in index.json was not replayed"));
        assert_eq!(
            Some(report.steps_total as u64),
            entry["steps"].as_u64(),
            "{name}: step count"
        );
    }

    let failures: Vec<String> = reports
        .iter()
        .filter(|r| !r.passed())
        .map(describe)
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} scenarios failed:\n{}",
        failures.len(),
        reports.len(),
        failures.join("")
    );
}

#[test]
fn corrupted_response_fails_at_that_step() {
    let name = "sec0_full_flow";
    let mut vector = read_vector(name);
    let clean = vectors::replay_json(name, &vector.to_string()).unwrap_or_else(|e| panic!("{e}"));

    // Flip the last byte of step 7's response (RespSetConfig).
    let step = step_mut(&mut vector, 7);
    let mut bytes = hex::decode(step["response_hex"].as_str().expect("response_hex"))
        .expect("response_hex is hex");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    step["response_hex"] = Value::String(hex::encode(&bytes));

    let report =
        vectors::replay_json("corrupted", &vector.to_string()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !report.passed(),
        "corrupted vector passed:\n{}",
        describe(&report)
    );
    let m = report
        .mismatches
        .iter()
        .find(|m| m.step == 7)
        .unwrap_or_else(|| panic!("step 7 not reported:\n{}", describe(&report)));
    assert_eq!(m.endpoint, "prov-config");
    assert_eq!(m.expected, Outcome::Response(bytes));
    if clean.passed() {
        // With a conforming device the corrupted step is the only failure.
        assert_eq!(report.mismatches.len(), 1, "{}", describe(&report));
        assert_eq!(report.first_mismatch().map(|m| m.step), Some(7));
        assert_eq!(report.steps_passed, report.steps_total - 1);
    }
}

#[test]
fn wrong_expected_error_code_fails_at_that_step() {
    let name = "sec0_full_flow";
    let mut vector = read_vector(name);
    let clean = vectors::replay_json(name, &vector.to_string()).unwrap_or_else(|e| panic!("{e}"));

    // Step 14 records "-2: service stopped"; claim an error code nothing returns instead.
    let step = step_mut(&mut vector, 14);
    step["error"]["code"] = Value::from(0x7fff);

    let report =
        vectors::replay_json("corrupted", &vector.to_string()).unwrap_or_else(|e| panic!("{e}"));
    assert!(!report.passed());
    assert!(
        report.mismatches.iter().any(|m| m.step == 14),
        "{}",
        describe(&report)
    );
    if clean.passed() {
        assert_eq!(report.first_mismatch().map(|m| m.step), Some(14));
    }
}

#[test]
fn malformed_files_are_errors_naming_the_origin() {
    let err = vectors::replay_json("broken.json", "{ not json").expect_err("not JSON");
    assert!(err.to_string().contains("broken.json"), "{err}");

    let mut vector = read_vector("sec0_full_flow");
    vector["schema"] = Value::from("something-else/9");
    let err = vectors::replay_json("other.json", &vector.to_string()).expect_err("schema");
    assert!(err.to_string().contains("other.json"), "{err}");

    let mut vector = read_vector("sec0_full_flow");
    step_mut(&mut vector, 3)["request_hex"] = Value::from("zz");
    let err = vectors::replay_json("badhex.json", &vector.to_string()).expect_err("bad hex");
    assert!(err.to_string().contains("step 3"), "{err}");
}

#[test]
fn missing_recorded_randomness_fails() {
    let label = "security1/Device random";
    let mut vector = read_vector("sec1_full_flow");
    vector["derived_device_values"]
        .as_object_mut()
        .expect("derived_device_values")
        .remove(label);
    for step in vector["transcript"].as_array_mut().expect("transcript") {
        if let Some(trace) = step["device_trace"].as_array_mut() {
            trace.retain(|line| !line.as_str().is_some_and(|l| l.contains(label)));
        }
    }
    let report =
        vectors::replay_json("no-random", &vector.to_string()).unwrap_or_else(|e| panic!("{e}"));
    assert!(!report.passed());
    assert!(
        !report.rng_problems.is_empty(),
        "device drew a random value nobody recorded, yet no rng problem:\n{}",
        describe(&report)
    );
}

#[test]
fn embedded_set_is_the_directory() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("esp-idf");
    let files = vectors::scenario_files(&dir).expect("vector dir");
    assert_eq!(
        files.len(),
        vectors::EMBEDDED.len(),
        "a vector file is not compiled in"
    );
    for (name, json) in vectors::EMBEDDED {
        let on_disk = std::fs::read_to_string(dir.join(format!("{name}.json"))).expect("file");
        assert_eq!(&on_disk, json, "{name}");
    }
    assert_eq!(vectors::embedded().expect("parse").len(), files.len());
}
