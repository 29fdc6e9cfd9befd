//! The security layer of protocomm (spec §3): one scheme, at most one session.
//!
//! A security instance holds exactly one session `{id, state}`; opening a transport session closes the
//! previous one (a new client silently evicts the old). Security 0 keeps no session at all. For load
//! tests the simulator can hold more (`DeviceConfig::max_sessions`); opening one past the limit evicts
//! the least recently opened, which with the default limit of 1 is ESP-IDF's rule. This module
//! decodes `SessionData`, applies the checks ESP-IDF makes before the scheme sees the message (`sec_ver`,
//! the `proto` oneof, the session id), and encrypts/decrypts data-endpoint traffic.

pub(crate) mod sec0;
pub(crate) mod sec1;
pub(crate) mod sec2;
pub mod srp;

use prost::Message;
use proto::protocomm::{session_data, Sec1MsgType, Sec2MsgType, SessionData};

use crate::config::{Profile, Security};
use crate::error::{NoResponse, Reject};
use crate::misbehave::{Misbehaviour, Misbehaviours};
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

impl State {
    fn established(&self) -> bool {
        matches!(
            self,
            Self::Sec1(sec1::Sec1State::Established(_))
                | Self::Sec2(sec2::Sec2State::Established(_))
        )
    }
}

struct Session {
    id: SessionId,
    state: State,
    /// Misbehaviour `cmd1-replay-accepted`: the Response1 that established the session, sent again.
    response1: Option<Vec<u8>>,
}

/// The configured scheme plus its (single) session.
pub(crate) struct SecurityLayer {
    scheme: Security,
    sec1: sec1::Sec1Options,
    sec2: sec2::Sec2Options,
    /// Misbehaviours handled at this layer: `ignore-sec-ver`, `cmd1-replay-accepted`,
    /// `answer-before-handshake`.
    ignore_sec_ver: bool,
    cmd1_replay: bool,
    plaintext_before_handshake: bool,
    /// Open sessions, least recently opened first; at most `max_sessions`.
    sessions: Vec<Session>,
    max_sessions: usize,
}

impl SecurityLayer {
    pub(crate) fn new(
        scheme: Security,
        profile: Profile,
        misbehave: &Misbehaviours,
        max_sessions: usize,
    ) -> Self {
        let on = |m| misbehave.contains(&m);
        Self {
            scheme,
            sec1: sec1::Sec1Options {
                retry_keeps_counter: profile.sec1_retry_keeps_counter(),
                accept_wrong_pop: on(Misbehaviour::AcceptWrongPop),
                ctr_restart_per_message: on(Misbehaviour::CtrRestartPerMessage),
            },
            sec2: sec2::Sec2Options {
                nonce_reuse: on(Misbehaviour::GcmNonceReuse),
                accept_short_a: on(Misbehaviour::AcceptShortSrpA),
                accept_zero_a: on(Misbehaviour::AcceptZeroSrpA),
            },
            ignore_sec_ver: on(Misbehaviour::IgnoreSecVer),
            cmd1_replay: on(Misbehaviour::Cmd1ReplayAccepted),
            plaintext_before_handshake: on(Misbehaviour::AnswerBeforeHandshake),
            sessions: Vec::new(),
            max_sessions: max_sessions.max(1),
        }
    }

    /// Whether data endpoints are encrypted (Security 1 and 2).
    pub(crate) fn encrypts(&self) -> bool {
        !matches!(self.scheme, Security::Sec0)
    }

    /// `new_transport_session`: open `id` fresh, evicting the least recently opened session when the
    /// limit is reached (with ESP-IDF's limit of one: close any session).
    pub(crate) fn open_session(&mut self, id: SessionId) {
        let state = match self.scheme {
            Security::Sec0 => return,
            Security::Sec1 { .. } => State::Sec1(sec1::Sec1State::AwaitCmd0),
            Security::Sec2 { .. } => State::Sec2(sec2::Sec2State::AwaitCmd0),
        };
        self.sessions.retain(|s| s.id != id);
        while self.sessions.len() >= self.max_sessions {
            self.sessions.remove(0);
        }
        self.sessions.push(Session {
            id,
            state,
            response1: None,
        });
    }

    /// `close_transport_session`: only an open session can be closed; its keys are dropped (zeroized).
    pub(crate) fn close_session(&mut self, id: SessionId) {
        self.sessions.retain(|s| s.id != id);
    }

    /// The id of the most recently opened session, if any.
    pub(crate) fn session_id(&self) -> Option<SessionId> {
        self.sessions.last().map(|s| s.id)
    }

    fn session_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        self.sessions.iter_mut().find(|s| s.id == id)
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
            return sec0::handshake(request, !self.ignore_sec_ver);
        }
        let req = SessionData::decode(request).map_err(|_| Reject::Undecodable)?;
        if req.sec_ver != self.scheme.version() as i32 && !self.ignore_sec_ver {
            return Err(Reject::SecVerMismatch.into());
        }
        let (cmd1_replay, sec1, sec2) = (self.cmd1_replay, self.sec1, self.sec2);
        let scheme = &self.scheme;
        let Some(session) = self.sessions.iter_mut().find(|s| s.id == id) else {
            return Err(Reject::SessionMismatch.into());
        };
        if cmd1_replay && session.state.established() && is_command1(&req.proto) {
            if let Some(r1) = &session.response1 {
                return Ok(r1.clone());
            }
        }
        let result = match (scheme, &mut session.state, req.proto) {
            (Security::Sec1 { pop }, State::Sec1(st), Some(session_data::Proto::Sec1(p))) => {
                let pop = pop.as_ref().map(|p| p.0.as_slice());
                sec1::handshake(st, p, pop, sec1, rng, events)
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
                    opts: sec2,
                };
                sec2::handshake(st, p, &params, rng, events)
            }
            _ => Err(Reject::SchemeMismatch.into()),
        };
        if let (true, Ok(r1)) = (cmd1_replay && session.state.established(), &result) {
            session.response1 = Some(r1.clone());
        }
        result
    }

    fn established(&mut self, id: SessionId) -> Result<&mut State, NoResponse> {
        match self.session_mut(id) {
            Some(s) => {
                if s.state.established() {
                    Ok(&mut s.state)
                } else {
                    Err(Reject::NotEstablished.into())
                }
            }
            _ => Err(Reject::SessionMismatch.into()),
        }
    }

    /// Whether data on session `id` passes in plaintext: always with Security 0; with Security 1/2 only
    /// under the misbehaviour `answer-before-handshake`, while `id` is open but not established.
    fn plaintext(&self, id: SessionId) -> bool {
        !self.encrypts()
            || (self.plaintext_before_handshake
                && self
                    .sessions
                    .iter()
                    .any(|s| s.id == id && !s.state.established()))
    }

    /// Decrypt a data-endpoint request (identity for Security 0).
    pub(crate) fn decrypt(&mut self, id: SessionId, data: &[u8]) -> Result<Vec<u8>, NoResponse> {
        if self.plaintext(id) {
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
        if self.plaintext(id) {
            return Ok(data.to_vec());
        }
        match self.established(id)? {
            State::Sec1(sec1::Sec1State::Established(s)) => s.encrypt(data),
            State::Sec2(sec2::Sec2State::Established(s)) => s.encrypt(data),
            _ => Err(Reject::NotEstablished.into()),
        }
    }
}

/// Whether a handshake message is Command1 of either scheme.
fn is_command1(proto: &Option<session_data::Proto>) -> bool {
    match proto {
        Some(session_data::Proto::Sec1(p)) => p.msg == Sec1MsgType::SessionCommand1 as i32,
        Some(session_data::Proto::Sec2(p)) => p.msg == Sec2MsgType::S2SessionCommand1 as i32,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use zeroize::{ZeroizeOnDrop, Zeroizing};

    fn wiped_on_drop<T: ZeroizeOnDrop>() {}

    /// Closing a session drops its state; everything in it that holds key material must wipe itself
    /// then. This fails to compile if a cipher crate loses its `zeroize` feature.
    #[test]
    fn session_keys_are_zeroized_when_a_session_closes() {
        // Security 1: the AES-256-CTR stream (the expanded key and the counter block) and the raw key.
        wiped_on_drop::<super::sec1::Aes256Ctr>();
        wiped_on_drop::<aes::Aes256>();
        // Security 1 and 2 keep raw keys (`K`, the AES key) only in `Zeroizing`.
        wiped_on_drop::<Zeroizing<[u8; 32]>>();
        wiped_on_drop::<Zeroizing<[u8; 64]>>();
    }
}
