//! Endpoint handlers: they see decrypted payloads and act on the manager (spec §5, §6.6).
//!
//! All three provisioning endpoints share one dispatch pattern: decode (failure → `ESP_ERR_INVALID_ARG`),
//! look up `msg` (unknown → `ESP_FAIL`), run the command (error → `ESP_FAIL`), answer `msg + 1`.

pub(crate) mod config;
pub(crate) mod ctrl;
pub(crate) mod custom;
pub(crate) mod scan;
pub(crate) mod ver;

use crate::error::{NoResponse, Reject};
use crate::manager::Manager;
use crate::misbehave::Misbehaviour;

/// What a request produced: at the handler a plaintext answer, from protocomm the bytes to send
/// (ciphertext on data endpoints under Security 1/2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The response, ready now.
    Ready(Vec<u8>),
    /// The response comes later (a blocking scan): `Device::advance` produces it.
    Deferred,
}

/// A command whose payload oneof is missing (`missing`) or of another command: `ESP_FAIL`. Under the
/// misbehaviour `crash-on-missing-payload` a missing one crashes the device instead (older firmware
/// dereferenced NULL): the request fails with [`Reject::Crashed`], and the driver reboots the device.
pub(crate) fn bad_payload(mgr: &Manager, missing: bool) -> NoResponse {
    if missing && mgr.misbehaves(Misbehaviour::CrashOnMissingPayload) {
        return Reject::Crashed.into();
    }
    Reject::PayloadMismatch.into()
}
