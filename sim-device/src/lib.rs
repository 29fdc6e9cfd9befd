//! The sans-IO core of provlab's virtual ESP32: Espressif unified provisioning, device side.
//!
//! Bytes in, bytes out; time and randomness injected. Data flows one way:
//! transport → [`Device::handle`] → protocomm (endpoint lookup, security layer) → endpoint handler →
//! provisioning manager → fake Wi-Fi. Transports (HTTP, BLE, console) are thin drivers elsewhere: they
//! turn wire traffic into `(endpoint, session, bytes)` and never decode protobuf.
//!
//! Module map (one file per concept, names from the protocol):
//! - [`device`]: the [`Device`] facade and its call order;
//! - `protocomm`: endpoint registry and dispatch; `security/{sec0,sec1,sec2,srp}`;
//! - `handlers/{config,scan,ctrl,ver,custom}`: the endpoints; `manager`: the state machine;
//! - [`wifi`]: the fake radio; [`rng`]: injected randomness; `timer`: the timer table;
//! - [`error`]: outcomes named after ESP-IDF's `esp_err_t`; [`event`]: what the driver is told;
//! - [`misbehave`]: deliberate defects for testing conformance suites (off by default).
//!
//! With the default `runtime` feature the crate also holds the process around the core: `runtime` (device
//! task, world file, credential store, control channel) and `transport` (HTTP SoftAP, console), and the
//! `sim-device` binary. `default-features = false` gives the sans-IO core alone.
//!
//! The spec sections cited in doc comments refer to provlab's protocol specification.

#![forbid(unsafe_code)]

pub mod config;
pub mod device;
pub mod error;
pub mod event;
mod handlers;
pub mod manager;
pub mod misbehave;
pub mod protocomm;
pub mod rng;
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod security;
pub mod timer;
#[cfg(feature = "runtime")]
pub mod transport;
pub mod wifi;

pub use config::{
    AppInfo, Credentials, CustomBehaviour, CustomEndpoint, DeviceConfig, Profile, Sec2Patch,
    Secret, Security,
};
pub use device::{Advanced, Device, Stall, Until};
pub use error::{EspErr, NoResponse, Reject};
pub use event::{DeviceEvent, ProvEvent, WifiEvent};
pub use handlers::Reply;
pub use manager::{ServiceState, StationState};
pub use misbehave::{Misbehaviour, Misbehaviours};
pub use protocomm::{Endpoint, EndpointKind};
pub use rng::{DeviceRng, Draw, RecordedRng, SeededRng};
pub use security::SecurityEvent;
pub use wifi::{
    auth_mode_from_name, auth_mode_name, Ap, ApFault, ConnectFailure, DisconnectReason, WifiTiming,
    WifiWorld,
};

/// A transport session id (BLE connection handle, HTTP cookie value, console session number).
pub type SessionId = u32;
