//! The runtime around the sans-IO core: what turns a [`Device`](crate::Device) into a process.
//!
//! - [`driver`]: the device task (wall-clock or virtual time, OS or injected randomness, persistence,
//!   reboots) and its handle; [`options`]: what it starts with, its status, errors and control operations;
//! - [`world`]: the world file (fake radio environment) in TOML;
//! - [`store`]: crash-safe credential persistence under `--state-dir`;
//! - [`events`]: events as log lines and history records;
//! - [`control`]: the control channel (HTTP/JSON, hyper) for tests and app developers;
//! - [`banner`]: start-up output (service name, QR payload, esp_prov command line).
//!
//! Transports live in [`crate::transport`]; they only talk to the [`driver::DeviceHandle`].

pub mod banner;
pub mod control;
pub mod driver;
pub mod events;
pub mod options;
pub mod store;
pub mod world;

pub use driver::{
    spawn, ControlOp, DeviceHandle, EndpointEntry, RequestError, RngFactory, SimOptions, Status,
};
