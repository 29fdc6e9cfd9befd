//! End-to-end tests: a bluer peripheral and a bluer central talk through the loopback.
//!
//! `harness = false`: `main` starts one [`Testbed`] per scenario and re-executes this binary with
//! `DBUS_SYSTEM_BUS_ADDRESS` set (bluer reads only that variable, and setting it in a running
//! multi-threaded process is unsafe). The child runs the scenario named in `LOOPBACK_ROLE`.
//! Run one scenario with `cargo test -p bluez-loopback --test loopback -- NAME`.
//!
//! The child side lives in `loopback/`: the GATT peripheral app, central helpers and scenarios.

#[path = "loopback/central.rs"]
mod central;
#[path = "loopback/peripheral.rs"]
mod peripheral;
#[path = "loopback/scenarios.rs"]
mod scenarios;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use bluer::{Session, Uuid};
use bluez_loopback::{Options, Testbed};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use peripheral::Peripheral;

pub(crate) const ROLE: &str = "LOOPBACK_ROLE";
pub(crate) const SVC: Uuid = Uuid::from_u128(0x021a9004_0382_4aea_bff4_6b3f1c5adfb4);
pub(crate) const C_RW: Uuid = Uuid::from_u128(0x021aff51_0382_4aea_bff4_6b3f1c5adfb4);
pub(crate) const C_LONG_OK: Uuid = Uuid::from_u128(0x021aff52_0382_4aea_bff4_6b3f1c5adfb4);
pub(crate) const C_LONG_BAD: Uuid = Uuid::from_u128(0x021aff53_0382_4aea_bff4_6b3f1c5adfb4);
pub(crate) const C_NOTIFY: Uuid = Uuid::from_u128(0x021aff54_0382_4aea_bff4_6b3f1c5adfb4);
pub(crate) const C_DENY: Uuid = Uuid::from_u128(0x021aff55_0382_4aea_bff4_6b3f1c5adfb4);
pub(crate) const CUD: Uuid = Uuid::from_u128(0x00002901_0000_1000_8000_00805f9b34fb);

/// How a scenario's testbed is set up.
struct Setup {
    name: &'static str,
    mtu: u16,
    /// Adapters (`hci0` …); the default testbed has two.
    adapters: usize,
    /// Stop and continue the dbus-daemon every 20 ms while the scenario runs (a bus that falls
    /// behind, as on a loaded machine).
    stall: bool,
}

const fn plain(name: &'static str, mtu: u16) -> Setup {
    Setup {
        name,
        mtu,
        adapters: 2,
        stall: false,
    }
}

const SCENARIOS: &[Setup] = &[
    plain("basic", 517),
    plain("long_read_mtu23", 23),
    plain("peripheral_disconnect", 517),
    plain("adv_size", 517),
    plain("notify", 517),
    plain("owner_gone", 517),
    // As many adapters as the suite's loopback: large object dumps.
    Setup {
        name: "busy_bus",
        mtu: 517,
        adapters: 33,
        stall: true,
    },
];

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        // One thread: dbus-tokio 0.7 fails a call now and then when two threads queue messages on
        // one connection before its I/O task has run (conformance's `dut/ble/host.rs`).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let res = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(45), child(&role))
                .await
                .unwrap_or_else(|_| Err(anyhow!("timed out")))
        });
        match res {
            Ok(()) => std::process::exit(0),
            Err(e) => {
                eprintln!("[{role}] FAILED: {e:#}");
                std::process::exit(1);
            }
        }
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    // libtest's listing protocol, which cargo-nextest uses: this harness has no ignored tests.
    if args.iter().any(|a| a == "--list") && args.iter().any(|a| a == "--ignored") {
        return Default::default();
    }
    if args.iter().any(|a| a == "--list") {
        for sc in SCENARIOS {
            println!("{}: test", sc.name);
        }
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    // `--exact` (as cargo-nextest runs one test): the whole name; otherwise a substring, as libtest.
    let exact = args.iter().any(|a| a == "--exact");
    let wanted = |name: &str, f: &str| if exact { name == f } else { name.contains(f) };
    let selected: Vec<&Setup> = SCENARIOS
        .iter()
        .filter(|sc| filters.is_empty() || filters.iter().any(|f| wanted(sc.name, f)))
        .collect();
    let n = selected.len();
    println!("\nrunning {n} loopback scenarios");
    let mut failed = Vec::new();
    let t0 = Instant::now();
    for sc in selected {
        let (name, mtu) = (sc.name, sc.mtu);
        let t = Instant::now();
        let res = run_scenario(sc);
        let ms = t.elapsed().as_millis();
        match res {
            Ok(setup_ms) => {
                println!("test {name} (mtu {mtu}) ... ok ({ms} ms, testbed start {setup_ms} ms)")
            }
            Err(e) => {
                println!("test {name} (mtu {mtu}) ... FAILED ({ms} ms): {e:#}");
                failed.push(name);
            }
        }
    }
    // libtest's summary line, which `cargo xtask test` adds up.
    println!(
        "\ntest result: {}. {} passed; {} failed; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        n - failed.len(),
        failed.len(),
        t0.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        println!("failures: {failed:?}");
        std::process::exit(1);
    }
}

fn run_scenario(sc: &Setup) -> Result<u128> {
    let t = Instant::now();
    let opts = Options {
        mtu: sc.mtu,
        adapters: (0..sc.adapters).map(|i| format!("hci{i}")).collect(),
        ..Options::default()
    };
    let tb = Testbed::start(opts)?;
    let setup = t.elapsed().as_millis();
    let mut child = Command::new(std::env::current_exe()?)
        .env(ROLE, sc.name)
        .env("DBUS_SYSTEM_BUS_ADDRESS", tb.bus_address())
        .stdin(Stdio::null())
        .spawn()
        .context("spawning the scenario child")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let stall = sc.stall;
    let mut round = 0u32;
    loop {
        if stall {
            // The bus falls behind now and then, as on a loaded machine: everyone's writes pile up.
            round += 1;
            signal_daemon(
                &tb,
                if round % 2 == 1 {
                    Signal::SIGSTOP
                } else {
                    Signal::SIGCONT
                },
            )?;
        }
        if let Some(st) = child.try_wait()? {
            if stall {
                signal_daemon(&tb, Signal::SIGCONT)?;
            }
            ensure!(st.success(), "child exited with {st}");
            return Ok(setup);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("child timed out");
        }
        std::thread::sleep(Duration::from_millis(if stall { 20 } else { 10 }));
    }
}

fn signal_daemon(tb: &Testbed, sig: Signal) -> Result<()> {
    let pid = Pid::from_raw(i32::try_from(tb.daemon_pid())?);
    kill(pid, sig).with_context(|| format!("sending {sig} to dbus-daemon"))
}

// -------------------------------------------------------------------- child side

async fn child(role: &str) -> Result<()> {
    match role {
        "basic" => scenarios::basic().await,
        "busy_bus" => scenarios::busy_bus().await,
        "long_read_mtu23" => scenarios::long_read().await,
        "peripheral_disconnect" => scenarios::peripheral_disconnect().await,
        "adv_size" => scenarios::adv_size().await,
        "notify" => scenarios::notify().await,
        "owner_gone" => scenarios::owner_gone().await,
        "peripheral_only" => {
            let s = Session::new().await?;
            let _p = Peripheral::start(&s, "hci0", "PROV_GONE").await?;
            println!("ready");
            tokio::time::sleep(Duration::from_secs(40)).await;
            Ok(())
        }
        other => bail!("unknown role {other}"),
    }
}
