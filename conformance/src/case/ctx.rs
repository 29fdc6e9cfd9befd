//! [`Ctx`]: the running context of one case and the protocol steps every group uses.

use std::time::{Duration, Instant};

use proto::wifi_prov::{RespGetStatus, WiFiConfigMsgType, WifiStationState};

use super::{config_payload, short_hex, Env, Step, Stop};
use crate::ensure;
use crate::link::Recorder;
use crate::model::Answer;
use prov_client::rng::SeededRng;
use prov_client::{messages, Cipher, Handshake, HandshakeError};

/// The running context of one case.
pub struct Ctx<'a> {
    /// What the case may look at.
    pub env: Env<'a>,
    /// The recorded link.
    pub rec: Recorder,
    /// Client randomness, seeded from the case ID so runs are reproducible.
    pub rng: SeededRng,
    cipher: Option<Cipher>,
}

impl<'a> Ctx<'a> {
    /// A context over `rec`.
    pub fn new(env: Env<'a>, mut rec: Recorder, seed: &str) -> Self {
        // Reports must not carry the device file's Wi-Fi passphrases.
        for n in &env.desc.networks {
            rec.redact(n.password.as_bytes());
        }
        rec.redact(env.desc.wrong_password.as_bytes());
        Self {
            env,
            rec,
            rng: SeededRng::new(seed.as_bytes()),
            cipher: None,
        }
    }

    /// Sends raw bytes and returns the answer.
    pub fn send(&mut self, endpoint: &str, body: &[u8], note: &str) -> Step<Answer> {
        Ok(self.rec.request(endpoint, body, None, note)?)
    }

    /// Sends raw bytes and requires a response.
    pub fn expect_data(&mut self, endpoint: &str, body: &[u8], note: &str) -> Step<Vec<u8>> {
        match self.send(endpoint, body, note)? {
            Answer::Data(d) => Ok(d),
            Answer::NoResponse(how) => Err(Stop::Fail(format!(
                "{note}: expected a response from {endpoint}, got none ({how})"
            ))),
        }
    }

    /// Sends raw bytes and requires no response (a transport error, spec §4.4).
    pub fn expect_none(&mut self, endpoint: &str, body: &[u8], note: &str) -> Step<()> {
        match self.send(endpoint, body, note)? {
            Answer::NoResponse(_) => Ok(()),
            Answer::Data(d) => Err(Stop::Fail(format!(
                "{note}: expected no response (transport error, spec §7.1), got {} bytes: {}",
                d.len(),
                short_hex(&d)
            ))),
        }
    }

    /// `proto-ver` with the body esp_prov sends, parsed as JSON.
    pub fn version(&mut self) -> Step<serde_json::Value> {
        let body = self.expect_data("proto-ver", b"---", "proto-ver")?;
        serde_json::from_slice(&body).map_err(|e| {
            Stop::Fail(format!(
                "proto-ver is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&body)
            ))
        })
    }

    /// The `sec_patch_ver` the client uses for Security 2: ESP-IDF ≥ 5.5 and network_provisioning
    /// run patch 1 (spec §3.4.4).
    pub fn sec_patch_ver(&self) -> u8 {
        1
    }

    /// A client handshake for the column's scheme with the device's credentials (or `pop`/`password`
    /// overrides for negative cases).
    pub fn client(&mut self, secret: Option<&[u8]>) -> Step<Handshake> {
        let d = self.env.desc;
        Ok(match self.env.security {
            0 => Handshake::Sec0,
            1 => {
                let pop = match secret {
                    Some(s) => Some(s.to_vec()),
                    None => d.pop.as_ref().map(|p| p.as_bytes().to_vec()),
                };
                Handshake::Sec1(Box::new(prov_client::Sec1Client::from_rng(
                    pop,
                    &mut self.rng,
                )))
            }
            _ => {
                let user = d.username.clone().unwrap_or_default();
                let pass = match secret {
                    Some(s) => s.to_vec(),
                    None => d.password.clone().unwrap_or_default().into_bytes(),
                };
                Handshake::Sec2(Box::new(prov_client::Sec2Client::from_rng(
                    user.into_bytes(),
                    pass,
                    &mut self.rng,
                )))
            }
        })
    }

    /// A full, correct handshake; afterwards [`Ctx::call`] encrypts.
    pub fn handshake(&mut self) -> Step<()> {
        let cipher = self.establish()?;
        self.cipher = Some(cipher);
        Ok(())
    }

    /// A full, correct handshake for the column's scheme ([`Handshake::run`]); returns the data-phase
    /// cipher without keeping it (for Security 0 the session command is sent and the cipher is
    /// plaintext).
    pub fn establish(&mut self) -> Step<Cipher> {
        let mut hs = self.client(None)?;
        let patch = self.sec_patch_ver();
        let cipher = hs.run(patch, |body, note| {
            self.expect_data("prov-session", body, note)
        });
        crate::keylog::record(&hs.session_secrets());
        cipher.map_err(|e| match e {
            HandshakeError::Exchange(stop) => stop,
            HandshakeError::Client(e) => Stop::Fail(format!("client: {e}")),
        })
    }

    /// The session cipher (after [`Ctx::handshake`]).
    pub fn cipher(&mut self) -> Step<&mut Cipher> {
        self.cipher
            .as_mut()
            .ok_or_else(|| Stop::Fail("case bug: no session established".into()))
    }

    /// Replaces the session cipher (cases that build their own handshake).
    pub fn set_cipher(&mut self, cipher: Cipher) {
        self.cipher = Some(cipher);
    }

    /// Encrypts `plain`, sends it, requires a response and decrypts it.
    pub fn call(&mut self, endpoint: &str, plain: &[u8], note: &str) -> Step<Vec<u8>> {
        self.exchange(endpoint, plain, note)?.map_err(|how| {
            Stop::Fail(format!(
                "{note}: expected a response from {endpoint}, got none ({how})"
            ))
        })
    }

    /// Encrypts `plain`, sends it and decrypts the answer; `None` when the device gave no response.
    pub fn call_maybe(
        &mut self,
        endpoint: &str,
        plain: &[u8],
        note: &str,
    ) -> Step<Option<Vec<u8>>> {
        Ok(self.exchange(endpoint, plain, note)?.ok())
    }

    /// The decrypted answer, or how the device gave none.
    fn exchange(
        &mut self,
        endpoint: &str,
        plain: &[u8],
        note: &str,
    ) -> Step<Result<Vec<u8>, String>> {
        let wire = self.cipher()?.encrypt(plain);
        match self.rec.request(endpoint, &wire, Some(plain), note)? {
            Answer::Data(d) => {
                let p = self
                    .cipher()?
                    .decrypt(&d)
                    .map_err(|e| Stop::Fail(format!("{note}: response does not decrypt: {e}")))?;
                self.rec.set_answer_plain(&p);
                Ok(Ok(p))
            }
            Answer::NoResponse(how) => Ok(Err(how)),
        }
    }

    /// Encrypts `plain`, sends it and requires no response.
    pub fn call_none(&mut self, endpoint: &str, plain: &[u8], note: &str) -> Step<()> {
        let wire = self.cipher()?.encrypt(plain);
        match self.rec.request(endpoint, &wire, Some(plain), note)? {
            Answer::NoResponse(_) => Ok(()),
            Answer::Data(d) => Err(Stop::Fail(format!(
                "{note}: expected no response (transport error), got {} bytes",
                d.len()
            ))),
        }
    }

    /// GetStatus.
    pub fn status(&mut self) -> Step<RespGetStatus> {
        let p = self.call("prov-config", &messages::get_status(), "GetStatus")?;
        let msg = config_payload(&p)?;
        ensure!(
            msg.msg == WiFiConfigMsgType::TypeRespGetStatus as i32,
            "GetStatus answered with msg {}",
            msg.msg
        );
        match msg.payload {
            Some(proto::wifi_prov::wi_fi_config_payload::Payload::RespGetStatus(r)) => Ok(r),
            other => Err(Stop::Fail(format!(
                "GetStatus response has no resp_get_status: {other:?}"
            ))),
        }
    }

    /// SetConfig; returns the response status.
    pub fn set_config(&mut self, ssid: &[u8], passphrase: &[u8]) -> Step<i32> {
        let p = self.call(
            "prov-config",
            &messages::set_config(ssid, passphrase, &[], 0),
            "SetConfig",
        )?;
        match config_payload(&p)?.payload {
            Some(proto::wifi_prov::wi_fi_config_payload::Payload::RespSetConfig(r)) => Ok(r.status),
            other => Err(Stop::Fail(format!(
                "SetConfig response has no resp_set_config: {other:?}"
            ))),
        }
    }

    /// ApplyConfig; returns the response status.
    pub fn apply(&mut self) -> Step<i32> {
        let p = self.call("prov-config", &messages::apply_config(), "ApplyConfig")?;
        match config_payload(&p)?.payload {
            Some(proto::wifi_prov::wi_fi_config_payload::Payload::RespApplyConfig(r)) => {
                Ok(r.status)
            }
            other => Err(Stop::Fail(format!(
                "ApplyConfig response has no resp_apply_config: {other:?}"
            ))),
        }
    }

    /// Polls GetStatus until the station leaves Connecting, or fails after the description's
    /// `connect_ms`.
    pub fn wait_outcome(&mut self) -> Step<RespGetStatus> {
        let mut deadline = self.deadline(Duration::from_millis(self.env.desc.timing.connect_ms));
        loop {
            let s = self.status()?;
            if s.sta_state != WifiStationState::Connecting as i32 {
                return Ok(s);
            }
            ensure!(
                !self.expired(&deadline),
                "station still Connecting after {} ms",
                self.env.desc.timing.connect_ms
            );
            self.tick(&mut deadline, Duration::from_millis(250))?;
        }
    }

    /// The first network of the description, or a skip.
    pub fn network(&self) -> Step<crate::description::Network> {
        self.env
            .desc
            .networks
            .first()
            .cloned()
            .ok_or_else(|| Stop::Skip("the device file lists no [[network]] to join".into()))
    }

    /// Handshake (if any) then SetConfig + ApplyConfig for `ssid`/`pass`; returns the Wi-Fi outcome.
    pub fn provision(&mut self, ssid: &[u8], pass: &[u8]) -> Step<RespGetStatus> {
        self.handshake()?;
        let st = self.set_config(ssid, pass)?;
        ensure!(st == 0, "SetConfig status {st}, expected Success (0)");
        let st = self.apply()?;
        ensure!(st == 0, "ApplyConfig status {st}, expected Success (0)");
        self.wait_outcome()
    }

    /// Lets `ms` of the device's time pass (a sleep, or a jump of its virtual clock), noting why.
    pub fn wait(&mut self, ms: u64, why: &str) -> Step<()> {
        Ok(self.rec.pause(Duration::from_millis(ms), why)?)
    }

    /// A deadline `limit` of the device's time from now, for polling loops.
    pub fn deadline(&self, limit: Duration) -> Deadline {
        Deadline {
            started: Instant::now(),
            waited: Duration::ZERO,
            limit,
        }
    }

    /// Whether `d` has passed: on a device with virtual time only the time let pass with
    /// [`Ctx::tick`] counts, otherwise the wall clock.
    pub fn expired(&mut self, d: &Deadline) -> bool {
        let elapsed = if self.rec.link().virtual_time() {
            d.waited
        } else {
            d.started.elapsed()
        };
        elapsed >= d.limit
    }

    /// Lets `every` of the device's time pass between two polls (not noted in the transcript).
    pub fn tick(&mut self, d: &mut Deadline, every: Duration) -> Step<()> {
        d.waited += every;
        Ok(self.rec.link().pause(every)?)
    }
}

/// A deadline in the device's time ([`Ctx::deadline`]).
#[derive(Debug)]
pub struct Deadline {
    started: Instant,
    waited: Duration,
    limit: Duration,
}
