//! provlab's conformance suite: judges any device that speaks Espressif unified provisioning (our
//! simulator, another implementation, or an ESP32 board) against ESP-IDF's behaviour.
//!
//! Read in this order:
//! - [`link`]: one transport session to a device (`request(endpoint, bytes)` → answer or no response);
//! - [`dut`]: devices under test (embedded simulator, `http://`, `console:`, `serial:`) and
//!   [`description`], the device file;
//! - [`case`] and [`cases`]: the named catalogue; [`golden`]: replay of the recorded ESP-IDF vectors;
//! - [`runner`]: runs the catalogue over a matrix of columns; [`model`]: what a run produces;
//! - [`report`]: JUnit XML, Markdown and HTML renderings of a [`model::RunReport`].

pub mod case;
pub mod cases;
pub mod cli;
pub mod description;
pub mod dut;
pub mod golden;
pub mod link;
pub mod matrix;
pub mod model;
pub mod report;
pub mod runner;
pub mod selfcheck;
pub mod steps;
