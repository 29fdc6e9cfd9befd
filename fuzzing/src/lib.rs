//! provlab's fuzz targets, one function each over a byte slice, so that the same bodies run under
//! libFuzzer (`fuzz/`, `cargo xtask fuzz`, nightly) and over their corpus on stable (`tests/corpus.rs`,
//! part of `cargo xtask test`), and cannot rot.
//!
//! | target | what it drives |
//! |---|---|
//! | `device` | the whole device (Security 0 and 1) through every handshake state, with invariants ([`device`]) |
//! | `device_sec2` | the same with Security 2 (its SRP-6a exponentiations make it slow) |
//! | `protobuf` | every envelope the device decodes, round-tripped ([`wire::protobuf`]) |
//! | `client` | the suite's decoders and handshakes against a broken device ([`wire::client`]) |
//! | `console` | the console transport's line parser ([`transport::console`]) |
//! | `http` | the SoftAP transport's HTTP head parser ([`transport::http`]) |
//! | `ble` | the BLE write check and offset reads ([`transport::ble`]) |
//! | `files` | golden vectors (parsed and replayed), world files, device files ([`files`]) |
//!
//! Seeds come from the golden vectors and the project's own files ([`seeds`]); inputs that once
//! crashed a target are kept in `fuzz/regressions/<target>/` and replayed by the tests.

pub mod device;
pub mod files;
pub mod transport;
pub mod wire;

use std::path::{Path, PathBuf};

/// A fuzz target.
pub struct Target {
    /// Its name (the cargo-fuzz binary and the corpus directory).
    pub name: &'static str,
    /// Its body.
    pub run: fn(&[u8]),
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "device",
        run: device::run,
    },
    Target {
        name: "device_sec2",
        run: device::run_sec2,
    },
    Target {
        name: "protobuf",
        run: wire::protobuf,
    },
    Target {
        name: "client",
        run: wire::client,
    },
    Target {
        name: "console",
        run: transport::console,
    },
    Target {
        name: "http",
        run: transport::http,
    },
    Target {
        name: "ble",
        run: transport::ble,
    },
    Target {
        name: "files",
        run: files::run,
    },
];

/// The workspace root (this crate sits one level below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The seed inputs of target `name`.
pub fn seeds(name: &str) -> Result<Vec<Vec<u8>>, String> {
    let root = root();
    let vectors = vectors::scenario_files(&root.join("vectors/esp-idf"))
        .map_err(|e| e.to_string())?
        .iter()
        .map(|p| vectors::load_file(p).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let (protobuf, client) = wire::seeds(&vectors);
    Ok(match name {
        "device" => device::seeds(&vectors, false),
        "device_sec2" => device::seeds(&vectors, true),
        "protobuf" => protobuf,
        "client" => client,
        "console" => transport::console_seeds(),
        "http" => transport::http_seeds(),
        "ble" => transport::ble_seeds(),
        "files" => files::seeds(&root),
        other => return Err(format!("no fuzz target {other:?}")),
    })
}

/// Inputs kept because they once crashed target `name` (`fuzz/regressions/<name>/`), sorted by name.
pub fn regressions(name: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = root().join("fuzz/regressions").join(name);
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.path(), std::fs::read(e.path()).ok()?)))
        .collect();
    out.sort();
    out
}
