//! Why a request got no response, named after ESP-IDF's outcomes (spec §4.4, §7).
//!
//! protocomm never answers a failed request with a protocol message: `protocomm_req_handle()` returns an
//! `esp_err_t` and the transport decides what the client sees (HTTP closes the socket, Bluedroid sends an
//! ATT error and disconnects, the console prints nothing). [`NoResponse`] carries that `esp_err_t`
//! ([`EspErr`]) and the precise protocol violation ([`Reject`]), the way rustls maps its errors to alerts.

use std::fmt;

/// The `esp_err_t` that ESP-IDF's `protocomm_req_handle()` returns for a failed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EspErr {
    /// `ESP_FAIL` (-1): handshake or handler failure.
    Fail,
    /// `ESP_ERR_NO_MEM` (0x101): on a chip `malloc(0)` returns NULL, so empty encrypted payloads land here.
    NoMem,
    /// `ESP_ERR_INVALID_ARG` (0x102): undecodable message, wrong `sec_ver`, wrong scheme.
    InvalidArg,
    /// `ESP_ERR_INVALID_STATE` (0x103): data before the session is established, or on another session.
    InvalidState,
    /// `ESP_ERR_NOT_FOUND` (0x105): no such endpoint.
    NotFound,
    /// Not an `esp_err_t`: the provisioning service has stopped and the transport is gone (the vectors' -2).
    ServiceStopped,
}

impl EspErr {
    /// The numeric code as ESP-IDF (and the golden vectors) write it.
    pub fn code(self) -> i32 {
        match self {
            Self::Fail => -1,
            Self::NoMem => 0x101,
            Self::InvalidArg => 0x102,
            Self::InvalidState => 0x103,
            Self::NotFound => 0x105,
            Self::ServiceStopped => -2,
        }
    }

    /// The ESP-IDF constant name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fail => "ESP_FAIL",
            Self::NoMem => "ESP_ERR_NO_MEM",
            Self::InvalidArg => "ESP_ERR_INVALID_ARG",
            Self::InvalidState => "ESP_ERR_INVALID_STATE",
            Self::NotFound => "ESP_ERR_NOT_FOUND",
            Self::ServiceStopped => "NO_TRANSPORT",
        }
    }
}

impl fmt::Display for EspErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// The protocol violation behind a failed request, in the spec's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Reject {
    /// The endpoint name is not registered.
    #[error("unknown endpoint")]
    UnknownEndpoint,
    /// The provisioning service is not running.
    #[error("provisioning service stopped")]
    ServiceStopped,
    /// A blocking request is still waiting for its reply; ESP-IDF's transport task is busy.
    #[error("device busy with a deferred reply")]
    Busy,
    /// `SessionData` (or a handler payload) did not decode as protobuf.
    #[error("undecodable protobuf")]
    Undecodable,
    /// `SessionData.sec_ver` differs from the configured scheme.
    #[error("security version mismatch")]
    SecVerMismatch,
    /// `sec_ver` is right but the `proto` oneof holds another scheme's payload.
    #[error("payload of another security scheme")]
    SchemeMismatch,
    /// The handshake names a session id other than the open one (or none is open).
    #[error("session id mismatch")]
    SessionMismatch,
    /// The handshake `msg` is neither Command0 nor Command1.
    #[error("unknown handshake message type")]
    UnknownMsg,
    /// The handshake `payload` oneof does not match `msg` (or is missing).
    #[error("handshake payload does not match msg")]
    OneofMismatch,
    /// Command1 arrived when the session was not waiting for it.
    #[error("Command1 out of order")]
    Cmd1OutOfOrder,
    /// A key, verifier, proof or username has the wrong length.
    #[error("bad length in handshake field")]
    BadLength,
    /// The client's X25519 key is a low-order point (all-zero shared secret).
    #[error("low-order X25519 public key")]
    WeakPublicKey,
    /// SRP: `A mod N == 0` (RFC 5054 §2.5.4), or `u == 0`.
    #[error("SRP public value A is 0 mod N (or u is 0)")]
    AModNIsZero,
    /// Security 1: the client verifier did not decrypt to the device public key (wrong PoP).
    #[error("client verifier mismatch (wrong PoP)")]
    PopMismatch,
    /// Security 2: the client proof M is wrong (wrong password or username).
    #[error("client proof mismatch (wrong password)")]
    ProofMismatch,
    /// A data endpoint was used before the secure session was established.
    #[error("secure session not established")]
    NotEstablished,
    /// The encrypted payload is empty (or only a GCM tag): `malloc(0)` is NULL on a chip.
    #[error("empty encrypted payload")]
    EmptyPayload,
    /// Security 2: the ciphertext is shorter than the 16-byte GCM tag.
    #[error("ciphertext shorter than the GCM tag")]
    ShortCiphertext,
    /// Security 2: GCM authentication failed (corrupted, replayed or out-of-order message).
    #[error("GCM tag mismatch")]
    GcmTagMismatch,
    /// Security 2: the nonce counter would wrap to 0.
    #[error("GCM nonce counter exhausted")]
    NonceExhausted,
    /// A handler got a `msg` it does not serve (including response types).
    #[error("unknown command for this endpoint")]
    UnknownCommand,
    /// A handler command whose payload oneof is missing or of another command.
    #[error("command payload missing or of the wrong type")]
    PayloadMismatch,
    /// `CmdScanResult` asked beyond the maximum number of scan entries.
    #[error("scan result index out of range")]
    ScanIndexOutOfRange,
    /// The custom endpoint's application handler failed.
    #[error("custom endpoint handler failed")]
    CustomHandlerFailed,
    /// The firmware crashed on this request (misbehaviour `crash-on-missing-payload`): the device reboots.
    #[error("device crashed")]
    Crashed,
}

impl From<Reject> for EspErr {
    fn from(why: Reject) -> Self {
        match why {
            Reject::UnknownEndpoint => Self::NotFound,
            Reject::ServiceStopped | Reject::Busy | Reject::Crashed => Self::ServiceStopped,
            Reject::Undecodable | Reject::SecVerMismatch | Reject::SchemeMismatch => {
                Self::InvalidArg
            }
            Reject::SessionMismatch | Reject::NotEstablished => Self::InvalidState,
            Reject::EmptyPayload | Reject::ShortCiphertext => Self::NoMem,
            Reject::UnknownMsg
            | Reject::OneofMismatch
            | Reject::Cmd1OutOfOrder
            | Reject::BadLength
            | Reject::WeakPublicKey
            | Reject::AModNIsZero
            | Reject::PopMismatch
            | Reject::ProofMismatch
            | Reject::GcmTagMismatch
            | Reject::NonceExhausted
            | Reject::UnknownCommand
            | Reject::PayloadMismatch
            | Reject::ScanIndexOutOfRange
            | Reject::CustomHandlerFailed => Self::Fail,
        }
    }
}

/// A request that produced no response: the `esp_err_t` and the reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no response: {err} ({why})")]
pub struct NoResponse {
    /// What `protocomm_req_handle()` returned.
    pub err: EspErr,
    /// The violation that caused it.
    pub why: Reject,
}

impl NoResponse {
    /// A failure with an explicit `esp_err_t` that differs from the reason's default mapping.
    pub fn with(err: EspErr, why: Reject) -> Self {
        Self { err, why }
    }
}

impl From<Reject> for NoResponse {
    fn from(why: Reject) -> Self {
        Self {
            err: why.into(),
            why,
        }
    }
}
