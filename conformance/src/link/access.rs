//! Capabilities a link may declare for the cases that test its transport itself: raw HTTP on a SoftAP
//! link, raw bytes on a console, the GATT table of a BLE link. A case asks [`Link::access`] and gets
//! the one its link has, or [`Access::None`]; it never needs to know which implementation it holds.
//!
//! [`Link::access`]: super::Link::access

use std::time::Duration;

use bluer::Uuid;

use super::LinkError;

/// What a link offers beyond requests.
pub enum Access<'a> {
    /// Nothing: requests only.
    None,
    /// Raw HTTP/1.1 on a SoftAP-scheme link.
    Http(&'a mut dyn HttpAccess),
    /// Raw bytes on a console line protocol.
    Line(&'a mut dyn LineAccess),
    /// The GATT table of a BLE link.
    Gatt(&'a mut dyn GattAccess),
}

/// A parsed HTTP response, or how the connection ended without one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawResponse {
    /// Status code; `None` when the connection closed before a complete response.
    pub status: Option<u16>,
    /// Header names (as sent) and values.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// The device closed the connection after this response (or instead of one).
    pub closed: bool,
}

impl RawResponse {
    /// First header value named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Raw HTTP on a SoftAP-scheme link (spec §4.1).
pub trait HttpAccess {
    /// A POST request as esp_prov sends it, with the link's cookie.
    fn post_bytes(&self, endpoint: &str, body: &[u8]) -> Vec<u8>;
    /// Sends raw bytes on the current connection (or a new one) and reads one response.
    fn raw(&mut self, bytes: &[u8]) -> Result<RawResponse, LinkError>;
    /// The cookie the device gave (the whole `Set-Cookie` value), if any.
    fn cookie(&self) -> Option<&str>;
    /// Replaces the cookie sent with the next requests.
    fn set_cookie(&mut self, cookie: Option<String>);
    /// Closes the TCP connection but keeps the cookie: the next request opens a new socket.
    fn drop_connection(&mut self);
}

/// Raw bytes on a console line protocol (spec §4.3).
pub trait LineAccess {
    /// Writes `bytes` and returns what the device printed: everything up to a prompt that follows at
    /// least the echo of `bytes`, plus whatever arrives within `quiet` after it.
    fn raw(&mut self, bytes: &[u8], quiet: Duration) -> Result<Vec<u8>, LinkError>;
}

/// One characteristic of a BLE device, as discovered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GattChar {
    /// UUID of its service.
    pub service: Uuid,
    /// Its UUID.
    pub uuid: Uuid,
    /// The values of its 0x2901 descriptors (normally exactly one).
    pub descriptions: Vec<Vec<u8>>,
}

/// The GATT side of a BLE link (spec §4.2).
pub trait GattAccess {
    /// Every characteristic found at the last connection, with its descriptions.
    fn gatt(&self) -> &[GattChar];
    /// The ATT MTU of the connection (from the endpoint characteristic), if BlueZ reports one.
    fn mtu(&mut self, endpoint: &str) -> Result<Option<usize>, LinkError>;
    /// Reads `endpoint`'s characteristic without writing first: `Ok(Err(why))` for an ATT error.
    fn read_only(&mut self, endpoint: &str) -> Result<Result<Vec<u8>, String>, LinkError>;
    /// Whether the device still holds the link, waiting up to `wait` for it to drop it.
    fn connected_after(&mut self, wait: Duration) -> bool;
}
