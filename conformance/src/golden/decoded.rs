//! Decoded replay, against a device whose randomness is its own: the client re-runs the scenario with
//! the recorded client's secrets, rebuilds each handshake step the recorded client's way, re-encrypts
//! each recorded plaintext in the live session, and judges outcomes and decrypted fields.

use prost::Message;
use proto::protocomm::{sec1_payload, sec2_payload, session_data, SessionData};
use vectors::schema::{Expected, RequestStep};
use vectors::Scenario;

use super::{expected_on, presence, send, Presence};
use crate::link::Recorder;
use crate::model::Answer;
use prov_client::{Cipher, FixedRng, Handshake, Profile, Sec1Client, Sec2Client};

/// The client side of a decoded-mode replay.
pub(super) struct Live {
    handshake: Option<Handshake>,
    response0: Option<Vec<u8>>,
    cipher: Option<Cipher>,
    security: u8,
    /// The recorded client secret (X25519 key or SRP `a`).
    secret: Vec<u8>,
    /// Credentials the recorded client may have used (client's and device's).
    candidates: Vec<Option<Vec<u8>>>,
    /// The recorded Response0, to find out how the recorded client built its Command1.
    recorded_r0: Option<Vec<u8>>,
    /// Username of the recorded Security 2 Command0.
    username: Vec<u8>,
    /// An ESP-IDF ≤ 5.5 device keeps its CTR counter after a failed Command1 (spec §8.1).
    keeps_counter: bool,
}

/// Which handshake message a recorded `prov-session` request is.
#[derive(PartialEq, Eq)]
enum Kind {
    Command0,
    Command1,
    Other,
}

fn session_kind(bytes: &[u8]) -> Kind {
    match SessionData::decode(bytes).ok().and_then(|d| d.proto) {
        Some(session_data::Proto::Sec1(p)) => match p.payload {
            Some(sec1_payload::Payload::Sc0(_)) if p.msg == 0 => Kind::Command0,
            Some(sec1_payload::Payload::Sc1(_)) if p.msg == 2 => Kind::Command1,
            _ => Kind::Other,
        },
        Some(session_data::Proto::Sec2(p)) => match p.payload {
            Some(sec2_payload::Payload::Sc0(_)) if p.msg == 0 => Kind::Command0,
            Some(sec2_payload::Payload::Sc1(_)) if p.msg == 2 => Kind::Command1,
            _ => Kind::Other,
        },
        _ => Kind::Other,
    }
}

impl Live {
    pub(super) fn new(s: &Scenario, profile: Profile) -> Self {
        let inputs = &s.file.inputs;
        let secret = inputs
            .client_secrets
            .first()
            .and_then(|c| hex::decode(&c.hex).ok())
            .unwrap_or_default();
        let text = |t: &Option<String>| t.as_ref().map(|p| p.as_bytes().to_vec());
        let security = inputs.security;
        let candidates = match security {
            1 => vec![text(&inputs.client_pop), text(&inputs.pop), None],
            _ => vec![text(&inputs.client_password), text(&inputs.sec2_password)],
        };
        Self {
            handshake: None,
            response0: None,
            cipher: (security == 0).then_some(Cipher::Plain),
            security,
            secret,
            candidates,
            recorded_r0: None,
            username: Vec::new(),
            keeps_counter: profile.sec1_retry_keeps_counter(),
        }
    }

    /// Rebuilds the recorded client's Command1 choice (credential and, for Security 1, keystream
    /// offset) from the recorded Response0, and answers the live Response0 the same way.
    fn command1(&mut self, recorded: &[u8], live_r0: &[u8]) -> Option<Vec<u8>> {
        let rec_r0 = self.recorded_r0.clone()?;
        for cand in self.candidates.clone() {
            match self.security {
                1 => {
                    let key = <[u8; 32]>::try_from(self.secret.as_slice()).ok()?;
                    for k in 0..8u64 {
                        let mut probe = Sec1Client::new(cand.clone(), key);
                        if probe.command1_at(&rec_r0, 32 * k).ok().as_deref() == Some(recorded) {
                            let off = if self.keeps_counter { 32 * k } else { 0 };
                            let mut live = Sec1Client::new(cand, key);
                            let c1 = live.command1_at(live_r0, off).ok();
                            self.handshake = Some(Handshake::Sec1(Box::new(live)));
                            return c1;
                        }
                    }
                }
                _ => {
                    let pass = cand.clone().unwrap_or_default();
                    let make = |secret: &[u8]| {
                        let mut draw = FixedRng::new(secret.to_vec());
                        Sec2Client::from_rng(self.username.clone(), pass.clone(), &mut draw)
                    };
                    let mut probe = make(&self.secret);
                    if probe.command1(&rec_r0).ok().as_deref() == Some(recorded) {
                        let mut live = make(&self.secret);
                        let c1 = live.command1(live_r0).ok();
                        self.handshake = Some(Handshake::Sec2(Box::new(live)));
                        return c1;
                    }
                }
            }
        }
        None
    }

    /// One step: handshake steps are recomputed, data steps re-encrypted; outcomes and plaintexts judged.
    pub(super) fn step(&mut self, rec: &mut Recorder, r: &RequestStep) -> Result<(), String> {
        let expected = expected_on(r);
        let plain = r.request_plaintext.clone();
        let kind = if r.endpoint == "prov-session" {
            session_kind(&r.request)
        } else {
            Kind::Other
        };
        if kind == Kind::Command0 {
            self.recorded_r0 = match &r.expected {
                Expected::Response(b) => Some(b.clone()),
                Expected::Error(_) => None,
            };
            if let Ok(sd) = SessionData::decode(r.request.as_slice()) {
                if let Some(session_data::Proto::Sec2(p)) = sd.proto {
                    if let Some(sec2_payload::Payload::Sc0(c0)) = p.payload {
                        self.username = c0.client_username;
                    }
                }
            }
        }
        let live_c1 = match (&kind, self.response0.clone()) {
            (Kind::Command1, Some(r0)) => self.command1(&r.request, &r0),
            _ => None,
        };
        let rebuilt = live_c1.is_some();
        let decrypts = matches!(
            r.endpoint.as_str(),
            "prov-config" | "prov-scan" | "prov-ctrl"
        ) || r.endpoint == vectors::setup::CUSTOM_ENDPOINT;
        let (body, sent_plain) = match live_c1 {
            Some(c1) => (c1, None),
            None => match (r.endpoint.as_str(), &plain, &mut self.cipher) {
                ("prov-session" | "proto-ver", _, _) => (r.request.clone(), None),
                (_, Some(p), Some(c)) if self.security > 0 => (c.encrypt(p), Some(p.clone())),
                // Garbage ciphertext on purpose under Security 1: under the recorded keys it decrypted to
                // bytes ESP-IDF could not unpack, under live keys it is random bytes that sometimes unpack.
                // Send plaintext that never does (an unterminated varint) through the live keystream: the
                // device sees what ESP-IDF saw (garbage) and the keystream moves the same way.
                (_, None, Some(c)) if self.security == 1 && decrypts && !r.request.is_empty() => {
                    let garbage = vec![0xFF; r.request.len()];
                    (c.encrypt(&garbage), Some(garbage))
                }
                _ => (r.request.clone(), None),
            },
        };
        let answer = send(rec, r, &body, sent_plain.as_deref())?;
        // Recorded ciphertext the client did not make (garbage on purpose) still moved the device's
        // keystream, on an endpoint that decrypts.
        if let (false, None, true, Some(c)) = (rebuilt, &sent_plain, decrypts, &mut self.cipher) {
            c.skip_foreign(body.len());
        }
        if let Answer::Data(d) = &answer {
            match kind {
                Kind::Command0 => self.response0 = Some(d.clone()),
                Kind::Command1 => {
                    if let Some(hs) = &mut self.handshake {
                        self.cipher = hs.finish(d, 1).ok();
                    }
                }
                Kind::Other => {}
            }
        }
        match presence(expected, answer) {
            Presence::Done(v) => v,
            Presence::Compare(want, got) => self.judge(rec, r, &want, &got),
        }
    }

    fn judge(
        &mut self,
        rec: &mut Recorder,
        r: &RequestStep,
        want: &[u8],
        got: &[u8],
    ) -> Result<(), String> {
        match r.endpoint.as_str() {
            "proto-ver" => (got == want)
                .then_some(())
                .ok_or_else(|| format!("proto-ver differs: {:?}", String::from_utf8_lossy(got))),
            // Handshake responses carry the device's own keys; the finish step judged them.
            "prov-session" if self.security > 0 => Ok(()),
            ep => {
                let ours = match &mut self.cipher {
                    Some(c) => c
                        .decrypt(got)
                        .map_err(|e| format!("response does not decrypt: {e}"))?,
                    None => got.to_vec(),
                };
                rec.set_answer_plain(&ours);
                let theirs = r
                    .response_plaintext
                    .clone()
                    .unwrap_or_else(|| want.to_vec());
                vectors::compare::compare_structure(ep, &ours, &theirs)
            }
        }
    }
}
