//! Protobuf messages of Espressif unified provisioning, compiled with prost from the `.proto` files in
//! `proto/proto/` (spec §2).
//!
//! The generated code is committed under `src/gen/` so that building needs no `protoc`; the test
//! `tests/codegen.rs` regenerates it with `protox` and fails when it is stale
//! (`cargo xtask codegen` rewrites it).
//!
//! Three packages, named after the firmware components that own them:
//! - [`protocomm`]: `constants`, `session`, `sec0`, `sec1`, `sec2`;
//! - [`wifi_prov`]: ESP-IDF ≤ 5.5 `wifi_provisioning` (`wifi_config`, `wifi_scan`, `wifi_ctrl`);
//! - [`network_prov`]: `network_provisioning` ≥ 1.0.0, wire compatible with `wifi_prov` plus Thread.

#![allow(missing_docs, unreachable_pub, clippy::all, clippy::use_self)]

/// protocomm core messages: `Status`, `SessionData` and the three security schemes.
pub mod protocomm {
    include!("gen/protocomm.rs");
}

/// wifi_provisioning messages (ESP-IDF ≤ v5.5): endpoints `prov-config`, `prov-scan`, `prov-ctrl`.
pub mod wifi_prov {
    include!("gen/wifi_prov.rs");
}

/// network_provisioning messages (idf-extra-components ≥ 1.0.0): Wi-Fi and Thread.
pub mod network_prov {
    include!("gen/network_prov.rs");
}

pub use prost::Message;
