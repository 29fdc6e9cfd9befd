//! A conformance case: a stable ID, a group, a title, when it applies, and a body that drives a link and
//! states expectations. [`Ctx`] gives case bodies the protocol steps they share (handshake, encrypted
//! calls, Wi-Fi status polling), all recorded for the report.

use std::time::{Duration, Instant};

use prost::Message;
use proto::wifi_prov::{RespGetStatus, WiFiConfigMsgType, WiFiConfigPayload, WifiStationState};

use crate::description::Description;
use crate::link::{LinkError, Recorder, Transport};
use crate::model::Answer;
use prov_client::rng::SeededRng;
use prov_client::Profile;
use prov_client::{messages, Cipher, ClientError, Handshake};

/// Why a case body stopped early.
#[derive(Debug)]
pub enum Stop {
    /// An expectation failed.
    Fail(String),
    /// The case found out it does not apply (e.g. the device has no such network).
    Skip(String),
}

impl From<LinkError> for Stop {
    fn from(e: LinkError) -> Self {
        Self::Fail(e.to_string())
    }
}

impl From<ClientError> for Stop {
    fn from(e: ClientError) -> Self {
        Self::Fail(format!("client: {e}"))
    }
}

/// A case body's result.
pub type Step<T> = Result<T, Stop>;

/// Fails the case with a formatted message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::case::Stop::Fail(format!($($arg)+)));
        }
    };
}

/// Catalogue groups, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    /// `proto-ver` and capabilities.
    Version,
    /// `prov-session` handshakes.
    Session,
    /// Encrypted data phase.
    Data,
    /// `prov-config`: SetConfig / ApplyConfig / GetStatus.
    Config,
    /// `prov-scan`.
    Scan,
    /// `prov-ctrl`.
    Ctrl,
    /// Application endpoints.
    Custom,
    /// The negative corpus of spec §7.
    Negative,
    /// HTTP (SoftAP) transport semantics.
    Http,
    /// Console line protocol.
    Console,
    /// BLE GATT transport.
    Ble,
    /// Golden vector replay.
    Golden,
}

impl Group {
    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Version => "version",
            Self::Session => "session",
            Self::Data => "data",
            Self::Config => "config",
            Self::Scan => "scan",
            Self::Ctrl => "ctrl",
            Self::Custom => "custom",
            Self::Negative => "negative",
            Self::Http => "http",
            Self::Console => "console",
            Self::Ble => "ble",
            Self::Golden => "golden",
        }
    }
}

/// When a case applies: `Some(reason)` when it does not.
pub type Applies = fn(&Env<'_>) -> Option<String>;

/// A case body.
pub type Body = fn(&mut Ctx<'_>) -> Step<()>;

impl Group {
    /// A case of this group that leaves the device as it found it.
    pub const fn case(
        self,
        id: &'static str,
        title: &'static str,
        applies: Applies,
        run: Body,
    ) -> Case {
        Case {
            id,
            group: self,
            title,
            applies,
            disturbs: false,
            run,
        }
    }

    /// A case of this group that leaves the device changed (provisioned, failed or stopped).
    pub const fn disturbing(
        self,
        id: &'static str,
        title: &'static str,
        applies: Applies,
        run: Body,
    ) -> Case {
        Case {
            disturbs: true,
            ..self.case(id, title, applies, run)
        }
    }
}

/// What a case may look at before it runs.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    /// The device description.
    pub desc: &'a Description,
    /// Expectations profile.
    pub profile: Profile,
    /// Transport of the column.
    pub transport: Transport,
    /// Security scheme of the column.
    pub security: u8,
}

/// One catalogue entry.
pub struct Case {
    /// Stable ID, e.g. `SEC1-POP-WRONG`.
    pub id: &'static str,
    /// Group.
    pub group: Group,
    /// One line: what is checked.
    pub title: &'static str,
    /// `Some(reason)` when the case does not apply to a column.
    pub applies: Applies,
    /// The case leaves the device changed (provisioned or stopped): on devices that are not fresh per
    /// connection it runs after the others.
    pub disturbs: bool,
    /// The body.
    pub run: Body,
}

/// Applies everywhere.
pub fn always(_: &Env<'_>) -> Option<String> {
    None
}

/// Applies to Security 1 and 2 (the schemes with a handshake and encryption).
pub fn secure(env: &Env<'_>) -> Option<String> {
    (env.security == 0).then(|| "Security 0 has no handshake or encryption".into())
}

/// Applies to Security `n` only.
pub fn only_sec(env: &Env<'_>, n: u8) -> Option<String> {
    (env.security != n).then(|| format!("Security {n} only"))
}

/// Applies where a session can be established over this transport.
pub fn session_possible(env: &Env<'_>) -> Option<String> {
    (env.security == 2 && env.transport.is_line_protocol()).then(|| {
        "Security 2 cannot run over the console: Command0 (768 hex digits) exceeds the 256-byte line buffer (spec §4.3.1)".into()
    })
}

/// Applies where an empty request body reaches protocomm or is refused: not NimBLE, which accepts an
/// empty write without calling protocomm and keeps the stored value (spec §4.2.3).
pub fn empty_body_judged(env: &Env<'_>) -> Option<String> {
    (env.transport == Transport::Ble
        && env.desc.ble.stack == Some(crate::description::BleStack::Nimble))
    .then(|| {
        "NimBLE accepts an empty write without calling protocomm; the read returns the stored value (spec §4.2.3)"
            .into()
    })
}

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
        let mut hs = self.client(None)?;
        let r0 = self.expect_data("prov-session", &hs.command0(), "SessionCommand0")?;
        let cipher = match hs.command1(&r0)? {
            None => hs.finish(&r0, self.sec_patch_ver())?,
            Some(c1) => {
                let r1 = self.expect_data("prov-session", &c1, "SessionCommand1")?;
                hs.finish(&r1, self.sec_patch_ver())?
            }
        };
        self.cipher = Some(cipher);
        Ok(())
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
        let wire = self.cipher()?.encrypt(plain);
        match self.rec.request(endpoint, &wire, Some(plain), note)? {
            Answer::Data(d) => {
                let p = self
                    .cipher()?
                    .decrypt(&d)
                    .map_err(|e| Stop::Fail(format!("{note}: response does not decrypt: {e}")))?;
                self.rec.set_answer_plain(&p);
                Ok(p)
            }
            Answer::NoResponse(how) => Err(Stop::Fail(format!(
                "{note}: expected a response from {endpoint}, got none ({how})"
            ))),
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
        let deadline = Instant::now() + Duration::from_millis(self.env.desc.timing.connect_ms);
        loop {
            let s = self.status()?;
            if s.sta_state != WifiStationState::Connecting as i32 {
                return Ok(s);
            }
            ensure!(
                Instant::now() < deadline,
                "station still Connecting after {} ms",
                self.env.desc.timing.connect_ms
            );
            std::thread::sleep(Duration::from_millis(250));
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

    /// Sleeps, noting it in the transcript.
    pub fn wait(&mut self, ms: u64, why: &str) {
        self.rec.note(format!("wait {ms} ms: {why}"));
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// Decodes a `prov-config` response.
pub fn config_payload(p: &[u8]) -> Step<WiFiConfigPayload> {
    WiFiConfigPayload::decode(p).map_err(|e| {
        Stop::Fail(format!(
            "prov-config response is not a WiFiConfigPayload ({e}): {}",
            short_hex(p)
        ))
    })
}

/// Hex of at most 64 bytes, for messages.
pub fn short_hex(b: &[u8]) -> String {
    if b.len() <= 64 {
        hex::encode(b)
    } else {
        format!("{}… ({} bytes)", hex::encode(&b[..64]), b.len())
    }
}
