//! The suite against the `sim-device` binary through each kind of device the user can name:
//! `console:<command>`, `serial:<pty>` (the binary's pseudo-terminal stands in for a board's UART) and
//! `http://HOST:PORT`. The binary is another process, so these exercise exactly what a user runs.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use conformance::description::Description;
use conformance::dut::DutSpec;
use conformance::matrix::Request;
use conformance::model::{RunReport, Verdict};
use prov_client::Profile;

fn sim_device() -> PathBuf {
    // `cargo test --workspace` builds every binary of the workspace before running tests.
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/sim-device");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build -p sim-device` (cargo xtask test does)",
        p.display()
    );
    p
}

fn device_file() -> Description {
    Description::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("devices/sim-device-sec1.toml"),
    )
    .expect("device file")
}

fn run(dut: DutSpec, filter: &str) -> RunReport {
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime"),
    );
    let req = Request {
        profile: Profile::EspIdf55,
        ..Request::device(dut, device_file(), Some(filter))
    };
    let mut catalogue = conformance::cases::catalogue();
    catalogue.extend(conformance::golden::cases().expect("golden"));
    conformance::matrix::run(&req, &catalogue, &rt).expect("run")
}

fn assert_clean(run: &RunReport, min_pass: usize) {
    let mut fails = Vec::new();
    let mut pass = 0;
    for c in &run.columns {
        for r in &c.results {
            match &r.verdict {
                Verdict::Fail(why) | Verdict::Crashed(why) | Verdict::NotJudged(why) => {
                    fails.push(format!("{} ({}): {why}", r.id, r.verdict.word()))
                }
                Verdict::Pass => pass += 1,
                Verdict::Skip(_) => {}
            }
        }
    }
    assert!(fails.is_empty(), "failures:\n{}", fails.join("\n"));
    assert!(pass >= min_pass, "only {pass} cases passed");
}

/// Kills the child on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and returns the value after `marker` in its output (stdout or stderr).
fn start(args: &[&str], marker: &str, on_stderr: bool) -> (Proc, String) {
    let mut child = Command::new(sim_device())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sim-device");
    let stream: Box<dyn std::io::Read + Send> = if on_stderr {
        Box::new(child.stderr.take().expect("stderr"))
    } else {
        Box::new(child.stdout.take().expect("stdout"))
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let marker = marker.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(rest) = line
                .split_once(&marker)
                .and_then(|(_, r)| r.split_whitespace().next().map(str::to_owned))
            {
                let _ = tx.send(rest);
            }
        }
    });
    let value = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("sim-device did not print its address");
    (Proc(child), value)
}

#[test]
fn console_command_runs_the_suite() {
    let cmd = format!(
        "{} --transport console --security 1 --no-control",
        sim_device().display()
    );
    let t = Instant::now();
    let run = run(DutSpec::Console(cmd), "");
    assert_clean(&run, 40);
    println!(
        "console: whole catalogue in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

#[test]
fn serial_port_runs_the_suite() {
    let (_proc, pty) = start(
        &[
            "--transport",
            "console",
            "--console-pty",
            "--security",
            "1",
            "--no-control",
        ],
        "Console on ",
        true,
    );
    // One board, one state: only cases that leave it unprovisioned.
    let run = run(
        DutSpec::Serial {
            port: pty,
            baud: 115_200,
        },
        "VER-*,SEC1-*,SESSION-*,DATA-*,SCAN-*,NEG-*",
    );
    assert_clean(&run, 10);
}

#[test]
fn http_device_runs_the_suite() {
    let (_proc, url) = start(
        &["--security", "1", "--listen", "127.0.0.1:0", "--no-control"],
        "SoftAP HTTP on ",
        false,
    );
    let dut: DutSpec = url.parse().expect("url");
    let run = run(dut, "VER-*,SEC1-*,SESSION-*,DATA-*,SCAN-*,NEG-*,HTTP-*");
    assert_clean(&run, 10);
}
