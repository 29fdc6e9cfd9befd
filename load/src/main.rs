//! `load`: 1,000 well-behaved clients provisioning one simulator at once over HTTP (Security 1), while
//! slow clients trickle request heads and a flood holds idle connections past the server's cap.
//! Prints throughput, p50/p99 latency, errors, and the simulator's open files and resident memory
//! before, at peak and after, as Markdown on stdout (progress on stderr). Loopback only.
//!
//! Exit status: 0 when no well-behaved session failed, the device took exactly one set of
//! credentials, and RSS after the run is within 10 % of before; 1 otherwise; 2 on usage errors.

mod attack;
mod procfs;
mod report;
mod session;

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

/// Load on one simulator: concurrent Security 1 provisioning sessions over HTTP, with a slow-client
/// attack and a connection flood at the same time.
#[derive(Parser, Debug, Clone)]
#[command(
    version,
    after_help = "EXAMPLE:\n  load --clients 1000 --slow 100 --flood 1500"
)]
pub(crate) struct Args {
    /// The sim-device binary [default: beside this program]
    #[arg(long)]
    sim: Option<PathBuf>,
    /// Well-behaved clients, all started at once, each one whole provisioning session.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Slow clients trickling request heads byte by byte.
    #[arg(long, default_value_t = 100)]
    slow: usize,
    /// Milliseconds between a slow client's bytes.
    #[arg(long, default_value_t = 200)]
    slow_gap_ms: u64,
    /// Flood connections held open (idle) at a time.
    #[arg(long, default_value_t = 1500)]
    flood: usize,
    /// Milliseconds a flood connection is held before it is replaced.
    #[arg(long, default_value_t = 1000)]
    flood_hold_ms: u64,
    /// The server's connection cap (`--http-max-sockets`).
    #[arg(long, default_value_t = 2048)]
    max_sockets: usize,
    /// The server's cap per peer address (`--http-max-sockets-per-peer`); the flood comes from one
    /// host, so past this its own connections are purged. Clients come four to a host.
    #[arg(long, default_value_t = 64)]
    max_sockets_per_peer: usize,
    /// The server's receive timeout in seconds (`--http-recv-timeout`; the chip's is 5). The attack
    /// lasts at least this long plus a second, so the timeout is seen cutting slow clients.
    #[arg(long, default_value_t = 2.0)]
    recv_timeout: f64,
    /// Seconds the whole run may take before it counts as failed.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Seconds the simulator is watched at rest, before and after the run (lowest sample counts).
    #[arg(long, default_value_t = 5)]
    settle: u64,
    /// Allowed growth of resident memory after the run over before it, in percent.
    #[arg(long, default_value_t = 10.0)]
    rss_growth: f64,
    /// Sessions of each warm-up round (with the same attack) before the "before" sample: a process's
    /// first bursts grow its allocator's pools and the runtime's buffers, which is not a leak.
    #[arg(long, default_value_t = 1000)]
    warmup: usize,
    /// Warm-up rounds.
    #[arg(long, default_value_t = 2)]
    warmup_rounds: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("load: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A running simulator, killed on drop.
struct Sim {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sim(args: &Args) -> Result<Sim> {
    let exe = match &args.sim {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("sim-device"),
    };
    let mut child = Command::new(&exe)
        .args([
            "--transport",
            "softap",
            "--security",
            "1",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--no-control", "--no-auto-stop", "--limits", "load"])
        .args(["--http-max-sockets", &args.max_sockets.to_string()])
        .args([
            "--http-max-sockets-per-peer",
            &args.max_sockets_per_peer.to_string(),
        ])
        .args(["--http-recv-timeout", &args.recv_timeout.to_string()])
        .env("RUST_LOG", "error")
        // mimalloc (sim-device's allocator) then returns freed pages at once instead of after a delay
        // that an idle process never reaches: RSS measures live memory, which is what a leak grows.
        .env("MIMALLOC_PURGE_DELAY", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!(
                "cannot start {} (build it: cargo build -p sim-device)",
                exe.display()
            )
        })?;
    let stdout = child.stdout.take().context("sim-device stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let addr = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            bail!("sim-device ended before it printed its HTTP address");
        };
        if let Some(a) = line.strip_prefix("SoftAP HTTP on http://") {
            break a
                .trim()
                .parse()
                .context("the HTTP address sim-device printed")?;
        }
    };
    // Keep draining stdout so the device never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(Sim { child, addr })
}

async fn run(args: Args) -> Result<bool> {
    let fd_limit = procfs::raise_fd_limit();
    let needed = (args.clients + args.slow + args.flood + 64) as u64;
    if fd_limit < needed {
        bail!("open files are limited to {fd_limit}; this run needs {needed} (raise `ulimit -n` or lower --flood)");
    }
    let sim = start_sim(&args)?;
    let pid = sim.child.id();
    let target = session::Target {
        addr: sim.addr,
        pop: b"abcd1234".to_vec(),
        ssid: b"myssid".to_vec(),
        passphrase: b"mypassword".to_vec(),
    };
    eprintln!("load: sim-device (pid {pid}) on http://{}", sim.addr);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counters = Arc::new(attack::Counters::default());
    let mut warmup = Vec::new();
    for n in 0..args
        .warmup_rounds
        .min(usize::from(args.warmup > 0) * usize::MAX)
    {
        eprintln!("load: warm-up round {} of {} sessions", n + 1, args.warmup);
        let warm = round(
            &args,
            &target,
            args.warmup,
            &Arc::new(attack::Counters::default()),
        )
        .await;
        warmup.extend(warm.results);
        if let Some(s) = settled(pid, 2).await {
            eprintln!(
                "load: at rest after warm-up round {}: RSS {} KiB, {} fds",
                n + 1,
                s.rss_kib,
                s.fds
            );
        }
    }
    let before = settled(pid, args.settle)
        .await
        .context("sim-device ended at start")?;
    let stop_sampler = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = Arc::clone(&stop_sampler);
        tokio::spawn(async move {
            let mut peak = procfs::Sample::default();
            while !stop.load(Ordering::Relaxed) {
                if let Some(s) = procfs::sample(pid) {
                    peak.rss_kib = peak.rss_kib.max(s.rss_kib);
                    peak.fds = peak.fds.max(s.fds);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            peak
        })
    };
    let main = round(&args, &target, args.clients, &counters).await;
    eprintln!(
        "load: clients done in {:.1} s; attackers stopped; settling {} s",
        main.wall.as_secs_f64(),
        args.settle
    );
    let after = settled(pid, args.settle)
        .await
        .context("sim-device died during the run")?;
    stop_sampler.store(true, Ordering::Relaxed);
    let peak = sampler.await.unwrap_or_default();
    let (results, wall) = (main.results, main.wall);
    let r = report::Report {
        args: &args,
        warmup,
        results,
        wall,
        before,
        peak,
        after,
        counters: &counters,
    };
    println!("{}", r.markdown());
    Ok(r.passed())
}

/// One round's outcome.
struct Round {
    results: Vec<Result<session::Timings>>,
    wall: Duration,
}

/// `clients` sessions at once with the attack running, which starts a second before them and lasts at
/// least the server's receive timeout plus a second.
async fn round(
    args: &Args,
    target: &session::Target,
    clients: usize,
    counters: &Arc<attack::Counters>,
) -> Round {
    let attack_start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut attackers = tokio::task::JoinSet::new();
    for i in 0..args.slow {
        attackers.spawn(attack::slow_client(
            attack::host(2, i),
            target.addr,
            Duration::from_millis(args.slow_gap_ms),
            Arc::clone(&stop),
            Arc::clone(counters),
        ));
    }
    for _ in 0..args.flood {
        attackers.spawn(attack::flood_slot(
            attack::host(3, 0),
            target.addr,
            Duration::from_millis(args.flood_hold_ms),
            Arc::clone(&stop),
            Arc::clone(counters),
        ));
    }
    eprintln!(
        "load: {} slow clients and {} flood connections attacking; starting {clients} clients",
        args.slow, args.flood
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..clients {
        let t = target.clone();
        tasks.spawn(async move { session::provision(&t, attack::host(1, i / 4)).await });
    }
    let mut results = Vec::with_capacity(clients);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let mut last_note = Instant::now();
    while !tasks.is_empty() {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(r)) => results.push(r.unwrap_or_else(|e| Err(anyhow::anyhow!("task: {e}")))),
            Ok(None) => break,
            Err(_) => {
                let left = tasks.len();
                tasks.abort_all();
                for _ in 0..left {
                    results.push(Err(anyhow::anyhow!("not done within {} s", args.timeout)));
                }
                break;
            }
        }
        if last_note.elapsed() > Duration::from_secs(2) {
            eprintln!("load: {}/{clients} sessions done", results.len());
            last_note = Instant::now();
        }
    }
    let wall = started.elapsed();
    let min_attack = Duration::from_secs_f64(args.recv_timeout + 1.0);
    if let Some(left) = min_attack.checked_sub(attack_start.elapsed()) {
        tokio::time::sleep(left).await;
    }
    stop.store(true, Ordering::Relaxed);
    attackers.abort_all();
    while attackers.join_next().await.is_some() {}
    Round { results, wall }
}

/// The process at rest: the lowest RSS and fd count sampled over `secs` seconds (an allocator hands
/// memory back, and closed connections are reaped, a little after the load ends).
async fn settled(pid: u32, secs: u64) -> Option<procfs::Sample> {
    let end = Instant::now() + Duration::from_secs(secs.max(1));
    let mut low: Option<procfs::Sample> = None;
    while Instant::now() < end {
        let s = procfs::sample(pid)?;
        low = Some(match low {
            None => s,
            Some(l) => procfs::Sample {
                rss_kib: l.rss_kib.min(s.rss_kib),
                fds: l.fds.min(s.fds),
            },
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    low
}
