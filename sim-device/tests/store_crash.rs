//! Crash safety of the credential store: the real binary rewrites two credential sets forever
//! (`--debug-store-writes`); this test SIGKILLs it at pseudo-random instants (240 times, or
//! `PROVLAB_CRASH_TRIALS`: `cargo xtask reliability` runs 1,000), and after every kill the store must load
//! and hold one of the two sets, whole, and a device must boot from it provisioned.
//!
//! The kill delays come from a seeded xorshift generator (`PROVLAB_CRASH_SEED` overrides the seed, to replay
//! a failure). The summary line counts which set each kill left behind and how often a kill landed inside
//! a write (a `credentials.json.tmp` left over), which shows the kills really hit the critical window.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use sim_device::runtime::store::CredentialStore;
use sim_device::{Credentials, Device, DeviceConfig, SeededRng};

/// Kills in the test command; `PROVLAB_CRASH_TRIALS` sets another number.
const KILLS: usize = 240;
/// Longest pseudo-random delay between "writing" and the kill, in microseconds.
const MAX_DELAY_US: u64 = 15_000;

/// xorshift64*: tiny, seeded, good enough to spread kill instants.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn sets() -> [Credentials; 2] {
    [
        Credentials {
            ssid: b"alpha-network".to_vec(),
            passphrase: vec![b'a'; 63],
        },
        Credentials {
            ssid: b"beta".to_vec(),
            passphrase: b"bbbbbbbb".to_vec(),
        },
    ]
}

/// A device booting with what the store held comes up provisioned, as the binary does at start.
fn boots_provisioned(stored: Credentials) -> bool {
    let cfg = DeviceConfig {
        stored_credentials: Some(stored),
        ..DeviceConfig::default()
    };
    Device::new(cfg, Box::new(SeededRng::new(b"boot")), Instant::now()).is_provisioned()
}

fn state_dir() -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("store-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Start the writer, wait for `writing`, sleep `delay`, SIGKILL it and reap it.
fn kill_during_writes(dir: &Path, delay: Duration, log: &Path) {
    let stderr = std::fs::File::create(log).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim-device"))
        .args([
            "--debug-store-writes",
            "--no-control",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
        ])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn sim-device");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(20));
    if line.as_deref().map(str::trim) != Ok("writing") {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "sim-device did not start writing (first stdout line {line:?}); stderr:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
    thread::sleep(delay);
    if let Ok(Some(status)) = child.try_wait() {
        panic!(
            "the writer exited by itself ({status}) before the kill; stderr:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
    child.kill().expect("SIGKILL sim-device");
    child.wait().expect("reap sim-device");
}

#[test]
fn killing_the_process_mid_write_never_corrupts_the_store() {
    let seed = std::env::var("PROVLAB_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_c0ff_ee15_2024_u64)
        .max(1);
    let kills = std::env::var("PROVLAB_CRASH_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(KILLS);
    let mut rng = XorShift(seed);
    let dir = state_dir();
    let log = dir.with_extension("log");
    let store = CredentialStore::open(&dir).expect("state dir");
    let [alpha, beta] = sets();
    // The store always holds a set: a kill before the first rename must leave this one.
    store.save(&beta).expect("initial credentials");
    let temp = dir.join("credentials.json.tmp");

    let started = Instant::now();
    let (mut seen_alpha, mut seen_beta, mut temp_left, mut temp_torn) =
        (0usize, 0usize, 0usize, 0usize);
    for kill in 0..kills {
        let delay = Duration::from_micros(rng.next() % (MAX_DELAY_US + 1));
        kill_during_writes(&dir, delay, &log);
        if let Ok(bytes) = std::fs::read(&temp) {
            temp_left += 1;
            if serde_json::from_slice::<serde_json::Value>(&bytes).is_err() {
                temp_torn += 1;
            }
        }
        let loaded = CredentialStore::open(&dir).and_then(|s| s.load());
        match loaded {
            Ok(Some(c)) if c == alpha || c == beta => {
                if c == alpha {
                    seen_alpha += 1;
                } else {
                    seen_beta += 1;
                }
                assert!(boots_provisioned(c), "kill #{kill}: the device did not boot from the store");
            }
            other => panic!(
                "kill #{kill} (seed {seed}, {delay:?} after start of writing) left the store {other:?}: \
                 expected one of the two credential sets"
            ),
        }
    }
    let took = started.elapsed();
    println!(
        "store crash test: {kills} kills (seed {seed}) in {:.2} s: store held alpha {seen_alpha}x, beta \
         {seen_beta}x, never corrupt; killed mid-write (temp file left) {temp_left}x, {temp_torn}x with a \
         torn temp file",
        took.as_secs_f64()
    );
    assert!(
        seen_alpha > 0 && seen_beta > 0,
        "the writer should alternate sets between kills (alpha {seen_alpha}, beta {seen_beta})"
    );
    assert!(
        temp_left > 0,
        "no kill landed inside a write ({kills} kills): the test did not exercise the critical window"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&log);
}
