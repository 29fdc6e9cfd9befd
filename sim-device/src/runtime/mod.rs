//! The runtime around the sans-IO core: what turns a [`Device`](crate::Device) into a process.
//!
//! - [`board`]: the [`Device`](crate::Device) with what the hardware around it does (clock, randomness,
//!   flash, power, radio environment, event history), synchronous;
//! - [`driver`]: the device task, a board on a tokio task, and its handle; [`options`]: what a board starts
//!   with, its status, errors, sessions and control operations;
//! - [`world`]: the world file (fake radio environment) in TOML;
//! - [`store`]: crash-safe credential persistence under `--state-dir`;
//! - [`events`]: events as log lines and history records; [`logfilter`]: `RUST_LOG`, minus bluer's
//!   trace output (GATT values: Security 0 plaintext);
//! - [`control`]: the control channel (HTTP/JSON, hyper) for tests and app developers;
//! - [`banner`]: start-up output (service name, QR payload, esp_prov command line);
//! - [`uart`]: what a board's UART shows (`--uart-log`): ESP-IDF log lines, panics, ROM reset banners.
//!
//! Transports live in [`crate::transport`]; they only talk to the [`driver::DeviceHandle`].

pub mod banner;
pub mod board;
pub mod control;
pub mod driver;
pub mod events;
pub mod logfilter;
pub mod options;
pub mod store;
pub mod uart;
pub mod world;

pub use board::{Board, Outcome};
pub use driver::{
    spawn, Answered, ControlOp, DeviceHandle, EndpointEntry, RequestError, RngFactory, SessionRef,
    SimOptions, Status, DEFAULT_HISTORY,
};
