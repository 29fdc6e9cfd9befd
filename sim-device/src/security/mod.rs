//! The security layer of protocomm (spec §3): one scheme, at most one session.
//!
//! A security instance holds exactly one session `{id, state}`; opening a transport session closes the
//! previous one (a new client silently evicts the old). Security 0 keeps no session at all. This module
//! decodes `SessionData`, applies the checks ESP-IDF makes before the scheme sees the message (`sec_ver`,
//! the `proto` oneof, the session id), and encrypts/decrypts data-endpoint traffic.

pub(crate) mod sec0;
pub(crate) mod sec1;
pub(crate) mod sec2;
pub mod srp;

use prost::Message;
use proto::protocomm::{session_data, SessionData};

use crate::config::{Profile, Security};
use crate::error::{NoResponse, Reject};
use crate::rng::DeviceRng;
use crate::SessionId;

/// `PROTOCOMM_SECURITY_SESSION_EVENT` (spec §3.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityEvent {
    /// Response1 sent: the secure session is established.
    SetupOk,
    /// Bad key length, missing payload, bad username length.
    InvalidSecurityParams,
    /// Wrong PoP or password.
    CredentialsMismatch,
}

enum State {
    Sec1(sec1::Sec1State),
    Sec2(sec2::Sec2State),
}

struct Session {
    id: SessionId,
    state: State,
}

/// The configured scheme plus its (single) session.
pub(crate) struct SecurityLayer {
    scheme: Security,
    sec1: sec1::Sec1Options,
    session: Option<Session>,
}

impl SecurityLayer {
    pub(crate) fn new(scheme: Security, profile: Profile) -> Self {
        Self {
            scheme,
            sec1: sec1::Sec1Options {
                retry_keeps_counter: profile.sec1_retry_keeps_counter(),
            },
            session: None,
        }
    }

    /// Whether data endpoints are encrypted (Security 1 and 2).
    pub(crate) fn encrypts(&self) -> bool {
        !matches!(self.scheme, Security::Sec0)
    }

    /// `new_transport_session`: close any session, open `id` fresh.
    pub(crate) fn open_session(&mut self, id: SessionId) {
        let state = match self.scheme {
            Security::Sec0 => return,
            Security::Sec1 { .. } => State::Sec1(sec1::Sec1State::AwaitCmd0),
            Security::Sec2 { .. } => State::Sec2(sec2::Sec2State::AwaitCmd0),
        };
        self.session = Some(Session { id, state });
    }

    /// `close_transport_session`: only the open session can be closed; its keys are dropped (zeroized).
    pub(crate) fn close_session(&mut self, id: SessionId) {
        if self.session.as_ref().is_some_and(|s| s.id == id) {
            self.session = None;
        }
    }

    /// The id of the open session, if any.
    pub(crate) fn session_id(&self) -> Option<SessionId> {
        self.session.as_ref().map(|s| s.id)
    }

    /// Handle a `prov-session` request.
    pub(crate) fn handshake(
        &mut self,
        id: SessionId,
        request: &[u8],
        rng: &mut dyn DeviceRng,
        events: &mut Vec<SecurityEvent>,
    ) -> Result<Vec<u8>, NoResponse> {
        if let Security::Sec0 = self.scheme {
            return sec0::handshake(request);
        }
        let req = SessionData::decode(request).map_err(|_| Reject::Undecodable)?;
        if req.sec_ver != self.scheme.version() as i32 {
            return Err(Reject::SecVerMismatch.into());
        }
        let session = match &mut self.session {
            Some(s) if s.id == id => s,
            _ => return Err(Reject::SessionMismatch.into()),
        };
        match (&self.scheme, &mut session.state, req.proto) {
            (Security::Sec1 { pop }, State::Sec1(st), Some(session_data::Proto::Sec1(p))) => {
                let pop = pop.as_ref().map(|p| p.0.as_slice());
                sec1::handshake(st, p, pop, self.sec1, rng, events)
            }
            (
                Security::Sec2 {
                    salt,
                    verifier,
                    patch,
                },
                State::Sec2(st),
                Some(session_data::Proto::Sec2(p)),
            ) => {
                let params = sec2::Sec2Params {
                    salt,
                    verifier: &verifier.0,
                    patch: *patch,
                };
                sec2::handshake(st, p, &params, rng, events)
            }
            _ => Err(Reject::SchemeMismatch.into()),
        }
    }

    fn established(&mut self, id: SessionId) -> Result<&mut State, NoResponse> {
        match &mut self.session {
            Some(s) if s.id == id => match &s.state {
                State::Sec1(sec1::Sec1State::Established(_))
                | State::Sec2(sec2::Sec2State::Established(_)) => Ok(&mut s.state),
                _ => Err(Reject::NotEstablished.into()),
            },
            _ => Err(Reject::SessionMismatch.into()),
        }
    }

    /// Decrypt a data-endpoint request (identity for Security 0).
    pub(crate) fn decrypt(&mut self, id: SessionId, data: &[u8]) -> Result<Vec<u8>, NoResponse> {
        if !self.encrypts() {
            return Ok(data.to_vec());
        }
        match self.established(id)? {
            State::Sec1(sec1::Sec1State::Established(s)) => s.decrypt(data),
            State::Sec2(sec2::Sec2State::Established(s)) => s.decrypt(data),
            _ => Err(Reject::NotEstablished.into()),
        }
    }

    /// Encrypt a data-endpoint response (identity for Security 0).
    pub(crate) fn encrypt(&mut self, id: SessionId, data: &[u8]) -> Result<Vec<u8>, NoResponse> {
        if !self.encrypts() {
            return Ok(data.to_vec());
        }
        match self.established(id)? {
            State::Sec1(sec1::Sec1State::Established(s)) => s.encrypt(data),
            State::Sec2(sec2::Sec2State::Established(s)) => s.encrypt(data),
            _ => Err(Reject::NotEstablished.into()),
        }
    }
}
