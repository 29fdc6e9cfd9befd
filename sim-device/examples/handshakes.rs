//! Handshake throughput of the device core, for comparison with the figures ESP-IDF's own code reaches
//! (vectors/esp-idf/README.md, "Oracle throughput"). Run with `cargo xtask bench` (release build).
//!
//! Each handshake opens a new session id and runs Command0 + Command1 through `Device::handle`, with a
//! precomputed client side so that only device time is measured, as the oracle's "device-only" column.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use prov_client::srp;
use sim_device::{Device, DeviceConfig, Sec2Patch, Secret, Security, SeededRng};

fn device(security: Security) -> Device {
    let cfg = DeviceConfig {
        security,
        ..DeviceConfig::default()
    };
    Device::new(cfg, Box::new(SeededRng::new(b"bench")), Instant::now())
}

/// Run `f` repeatedly for about `budget`; report handshakes per second.
fn measure(name: &str, budget: Duration, mut f: impl FnMut(u32)) {
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < budget {
        f(n);
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{name:<6} {:>10.0} handshakes/s  {:>9.1} us/handshake  ({n} runs)",
        f64::from(n) / secs,
        secs * 1e6 / f64::from(n)
    );
}

fn main() {
    let budget = Duration::from_secs(
        std::env::args()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(3),
    );
    let now = Instant::now();

    let mut d0 = device(Security::Sec0);
    let s0 = [0x52, 0x03, 0xa2, 0x01, 0x00];
    measure("sec0", budget, |i| {
        d0.open_session(i);
        d0.handle("prov-session", i, &s0, now)
            .expect("sec0 handshake");
    });

    // Client work is included here (the oracle's end-to-end column): the Security 1 client costs one X25519
    // and a few AES blocks, small next to the device's key generation and agreement.
    let mut d1 = device(Security::Sec1 {
        pop: Some(Secret(b"abcd1234".to_vec())),
    });
    measure("sec1", budget, |i| {
        d1.open_session(i);
        common::handshake(&mut d1, i, common::sec1(b"abcd1234"), now).expect("sec1 handshake");
    });

    let salt = b"0123456789abcdef".to_vec();
    let verifier = Secret(srp::verifier(b"wifiprov", b"abcd1234", &salt));
    let mut d2 = device(Security::Sec2 {
        salt,
        verifier,
        patch: Sec2Patch::V1,
    });
    measure("sec2", budget, |i| {
        d2.open_session(i);
        common::handshake(&mut d2, i, common::sec2(b"wifiprov", b"abcd1234"), now)
            .expect("sec2 handshake");
    });
}
