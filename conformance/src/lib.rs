//! provlab's conformance suite: judges any device that speaks Espressif unified provisioning (our
//! simulator, another implementation, or an ESP32 board) against ESP-IDF's behaviour.
//!
//! The protocol's client side is the `prov_client` crate. Read in this order:
//! - [`link`]: one transport session to a device (`request(endpoint, bytes)` → answer or no response,
//!   `pause` to let the device's time pass, `access` for transport-level capabilities);
//! - [`dut`]: devices under test (embedded simulator over a transport or in memory, `http://`,
//!   `console:`, `serial:`, `ble:`) and [`description`], the device file;
//! - [`case`] (a case and its context), [`steps`] (protocol steps the groups share), [`cases`] (the
//!   named catalogue) and [`golden`] (the recorded ESP-IDF scenarios, as cases);
//! - [`runner`] (one column), [`matrix`] (every column), [`selfcheck`]; [`model`]: what a run produces;
//! - [`report`]: JUnit XML, Markdown and HTML renderings of a [`model::RunReport`]; [`cli`];
//!   [`keylog`]: session secrets for a secret scan, only when asked for.

pub mod case;
pub mod cases;
pub mod cli;
pub mod description;
pub mod dut;
pub mod golden;
pub mod keylog;
pub mod link;
pub mod matrix;
pub mod model;
pub mod report;
pub mod runner;
pub mod selfcheck;
pub mod steps;
