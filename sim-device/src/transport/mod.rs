//! Transports: thin async adapters from a wire to the [`DeviceHandle`](crate::runtime::DeviceHandle).
//!
//! - [`http`]: the SoftAP scheme, `protocomm_httpd` on an `esp_http_server` model (spec §4.1);
//! - [`console`]: `protocomm_console` line protocol (spec §4.3.1) on stdin/stdout or a [`pty`];
//! - [`ble`]: a GATT peripheral through BlueZ (bluer), `protocomm_ble`/`protocomm_nimble` (spec §4.2).
//!
//! A transport never decodes protobuf; it maps wire traffic to `(endpoint, session, bytes)` and renders the
//! device's "no response" the way its ESP-IDF counterpart does (spec §4.4).

pub mod ble;
pub mod console;
pub mod http;
pub mod httpd;
pub mod pty;
