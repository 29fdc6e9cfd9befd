//! provlab's HIL: the conformance suite on a rack of real ESP32 boards, and on a virtual rack that
//! proves the same pipeline without hardware. Read in this order:
//!
//! - [`inventory`]: the rack file (boards, host radios), checked field by field;
//! - [`firmware`]: an ESP-IDF build's `flasher_args.json`, its images and partition table;
//! - [`backend`]: the traits a board is driven through (flash/erase/reset, console port, power) and
//!   the real implementations (probe-rs, espflash, serialport, sysfs/uhubctl); [`virtual_board`]: the
//!   same traits over a `sim-device` process;
//! - [`console`]: a board's console, watched (log, readiness, panics, reboots);
//! - [`board`]: one board's lifecycle and recovery; [`dut`]: the board as the suite's device under test;
//! - [`lock`]: advisory locks on boards and radios; [`rack`]: a run over many boards; [`cli`].

pub mod backend;
pub mod board;
pub mod cli;
pub mod console;
pub mod dut;
pub mod firmware;
pub mod inventory;
pub mod lock;
pub mod rack;
pub mod virtual_board;
