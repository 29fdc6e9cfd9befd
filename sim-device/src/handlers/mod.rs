//! Endpoint handlers: they see decrypted payloads and act on the manager (spec §5, §6.6).
//!
//! All three provisioning endpoints share one dispatch pattern: decode (failure → `ESP_ERR_INVALID_ARG`),
//! look up `msg` (unknown → `ESP_FAIL`), run the command (error → `ESP_FAIL`), answer `msg + 1`.

pub(crate) mod config;
pub(crate) mod ctrl;
pub(crate) mod custom;
pub(crate) mod scan;
pub(crate) mod ver;

/// A handler's answer.
#[derive(Debug)]
pub(crate) enum HandlerReply {
    /// Plaintext response, ready now.
    Ready(Vec<u8>),
    /// The response comes later (blocking scan).
    Deferred,
}
