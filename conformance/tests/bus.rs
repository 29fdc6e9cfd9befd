//! The suite's D-Bus connections to BlueZ ([`Bus`]) never fail a call that went out.
//!
//! dbus-tokio 0.7 fails a call with `Failed to send message` (while sending it) when two threads queue
//! messages on one connection before its I/O task has run; under load that broke GATT discovery in CI
//! now and then. A `Bus` runs its connection and every call on it on one thread. This drives several
//! buses at once from their own threads, as parallel links do, each with many calls in flight.
//!
//! `harness = false`: `main` starts a [`Testbed`] and runs this binary again with
//! `DBUS_SYSTEM_BUS_ADDRESS` set (bluer reads only that; setting it here would be unsafe); the child,
//! marked by `--child`, does the calls and exits non-zero on any failure.

use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use bluez_loopback::{Options, Testbed};
use conformance::dut::ble::host::Bus;

/// Buses used at once (the parallel links of a column), calls in flight on each, calls per flight.
const BUSES: usize = 6;
const IN_FLIGHT: usize = 16;
const CALLS: usize = 100;

const NAME: &str = "concurrent_calls_on_parallel_buses_never_fail";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--child") {
        return child();
    }
    // libtest's listing protocol, which cargo-nextest uses: this harness has no ignored tests.
    if args.iter().any(|a| a == "--list") && args.iter().any(|a| a == "--ignored") {
        return Default::default();
    }
    if args.iter().any(|a| a == "--list") {
        println!("{NAME}: test");
        return ExitCode::SUCCESS;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    // `--exact` (as cargo-nextest runs one test): the whole name; otherwise a substring, as libtest.
    let exact = args.iter().any(|a| a == "--exact");
    let wanted = |name: &str, f: &str| if exact { name == f } else { name.contains(f) };
    if !filters.is_empty() && !filters.iter().any(|f| wanted(NAME, f)) {
        println!("\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; finished in 0.00s\n");
        return ExitCode::SUCCESS;
    }
    println!("\nrunning 1 test");
    let started = Instant::now();
    let outcome = parent();
    match &outcome {
        Ok(()) => println!("test {NAME} ... ok"),
        Err(e) => println!("test {NAME} ... FAILED\n  {e}"),
    }
    let failed = usize::from(outcome.is_err());
    println!(
        "\ntest result: {}. {} passed; {failed} failed; finished in {:.2}s\n",
        if failed == 0 { "ok" } else { "FAILED" },
        1 - failed,
        started.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn parent() -> Result<(), String> {
    let tb = Testbed::start(Options::default()).map_err(|e| format!("BlueZ loopback: {e}"))?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .arg("--child")
        .env("DBUS_SYSTEM_BUS_ADDRESS", tb.bus_address())
        .output()
        .map_err(|e| format!("running the child: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Failed calls: how many, and the first one's error.
#[derive(Default)]
struct Failures {
    count: AtomicU32,
    first: std::sync::Mutex<Option<String>>,
}

impl Failures {
    fn record(&self, e: impl ToString) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert_with(|| e.to_string());
    }
}

fn child() -> ExitCode {
    let ok = AtomicU32::new(0);
    let failures = Failures::default();
    std::thread::scope(|s| {
        for _ in 0..BUSES {
            s.spawn(|| {
                let bus = match Bus::open() {
                    Ok(b) => b,
                    Err(e) => return failures.record(e),
                };
                bus.block_on(async {
                    let adapter = match bus.session().default_adapter().await {
                        Ok(a) => a,
                        Err(e) => return failures.record(e),
                    };
                    let flights = (0..IN_FLIGHT).map(|_| async {
                        for _ in 0..CALLS {
                            match adapter.address().await {
                                Ok(_) => {
                                    ok.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(e) => failures.record(e),
                            }
                        }
                    });
                    futures::future::join_all(flights).await;
                });
            });
        }
    });
    let (ok, failed) = (ok.into_inner(), failures.count.into_inner());
    if failed == 0 && ok as usize == BUSES * IN_FLIGHT * CALLS {
        ExitCode::SUCCESS
    } else {
        let first = failures
            .first
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        eprintln!("{ok} calls answered, {failed} failed; first error: {first:?}");
        ExitCode::FAILURE
    }
}
