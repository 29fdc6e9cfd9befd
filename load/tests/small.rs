//! A small load run through the real binaries (the full one is `cargo xtask reliability --only load`):
//! every well-behaved session completes while slow clients and a one-host flood attack, exactly one
//! ApplyConfig is taken, and the report carries every figure.

use std::process::Command;

#[test]
fn a_small_run_has_no_errors_under_attack() {
    let out = Command::new(env!("CARGO_BIN_EXE_load"))
        .args(["--clients", "40", "--slow", "5", "--flood", "80"])
        .args([
            "--max-sockets-per-peer",
            "16",
            "--warmup",
            "10",
            "--warmup-rounds",
            "1",
        ])
        .args([
            "--recv-timeout",
            "1",
            "--settle",
            "1",
            "--rss-growth",
            "1000",
        ])
        .output()
        .expect("run load");
    let md = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "load failed:\n{md}\n{err}");
    let row = |name: &str| -> String {
        md.lines()
            .find(|l| l.starts_with(&format!("| {name}")))
            .and_then(|l| l.split('|').nth(2))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no `{name}` row in:\n{md}"))
    };
    assert_eq!(row("sessions completed"), "40 of 40");
    assert_eq!(row("errors"), "0");
    assert_eq!(row("ApplyConfig taken"), "1");
    // The attack happened, and the server's limits answered it.
    let slow: Vec<u64> = row("slow connections")
        .split(" / ")
        .map(|v| v.parse().expect("number"))
        .collect();
    assert!(
        slow[0] >= 5 && slow[2] >= 1,
        "no slow client was cut: {slow:?}"
    );
    let flood: Vec<u64> = row("flood connections")
        .split(" / ")
        .map(|v| v.parse().expect("number"))
        .collect();
    assert!(
        flood[1] >= 1,
        "the per-host cap never purged the flood: {flood:?}"
    );
    for figure in [
        "throughput",
        "session latency",
        "request latency",
        "sim-device open fds",
        "sim-device RSS",
    ] {
        row(figure);
    }
}
