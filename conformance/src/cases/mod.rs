//! The catalogue: every case, grouped, with stable IDs.

use crate::case::Case;

pub mod ble;
pub mod config;
pub mod console;
pub mod ctrl;
pub mod custom;
pub mod data;
pub mod http;
pub mod negative;
pub mod scan;
pub mod session;
pub mod version;

/// Every case, in report order.
pub fn catalogue() -> Vec<Case> {
    let mut all = Vec::new();
    all.extend(version::cases());
    all.extend(config::cases());
    all.extend(scan::cases());
    all.extend(ctrl::cases());
    all.extend(custom::cases());
    all.extend(session::cases());
    all.extend(data::cases());
    all.extend(negative::cases());
    all.extend(http::cases());
    all.extend(console::cases());
    all.extend(ble::cases());
    all
}
