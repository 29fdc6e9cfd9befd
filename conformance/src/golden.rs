//! Golden replay: the ESP-IDF v5.5.5 transcripts of `vectors/esp-idf/`, replayed through a transport.
//!
//! Two modes:
//! - **byte-exact** (the embedded simulator): each scenario boots a simulator configured from the
//!   scenario's inputs with the device's recorded random values injected (its documented deterministic
//!   mode), and every response must equal the recording byte for byte;
//! - **decoded** (any other device): the device's randomness is its own, so the client re-runs the
//!   scenario with its recorded secrets (X25519 key, SRP `a`), re-encrypts each recorded plaintext in
//!   the live session, and judges outcomes (response or transport error) and decrypted plaintexts. The
//!   device must be set up like the scenario (security, PoP/password, the vectors' Wi-Fi world), so
//!   this mode is opt-in for other devices.
//!
//! Transport limits are not device faults: an empty body is refused by every transport (spec §4.1,
//! §4.3.1), so such a step expects no response; a scenario needing a console line over 255 characters
//! cannot run over the console and is skipped with that reason.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sim_device::runtime::world::World;
use tokio::runtime::Runtime;
use vectors::schema::{Expected, RequestStep, Step};
use vectors::Scenario;

use crate::case::short_hex;
use crate::description::Description;
use crate::dut::sim::{SimDut, SimSetup};
use crate::dut::Dut;
use crate::link::{LinkError, Recorder, Transport};
use crate::matrix::Request;
use crate::model::{Answer, CaseResult, Verdict};
use crate::runner::{Filter, Progress};
use prov_client::{Cipher, Handshake, Sec1Client, Sec2Client};

/// Longest console request line (`LINE_BUF_SIZE` 256 including the CR).
const CONSOLE_LINE_MAX: usize = 255;

/// A scenario selected for this run.
pub struct Golden {
    /// Case ID, `GOLDEN-<scenario>`.
    pub id: String,
    /// The scenario.
    pub scenario: Scenario,
    /// The raw JSON (for fields the replay schema does not carry, e.g. request plaintexts).
    pub raw: Value,
}

/// The scenarios `filter` selects.
pub fn plan(filter: &Filter) -> Result<Vec<Golden>, String> {
    let mut out = Vec::new();
    for (name, json) in vectors::EMBEDDED {
        let id = format!("GOLDEN-{name}");
        if !filter.matches(&id) {
            continue;
        }
        let scenario = Scenario::parse(&format!("vectors/esp-idf/{name}.json"), json)
            .map_err(|e| e.to_string())?;
        let raw = serde_json::from_str(json).map_err(|e| e.to_string())?;
        out.push(Golden { id, scenario, raw });
    }
    Ok(out)
}

/// How many golden cases land in a column of scheme `security`.
pub fn count_for(golden: &[Golden], security: u8) -> usize {
    golden
        .iter()
        .filter(|g| g.scenario.file.inputs.security == security)
        .count()
}

/// Replays the scenarios of the column's scheme.
pub fn run_for_column(
    golden: &[Golden],
    req: &Request,
    dut: &dyn Dut,
    desc: &Description,
    rt: &Arc<Runtime>,
    progress: &Progress,
) -> Vec<CaseResult> {
    let label = format!(
        "{}/{}/sec{}",
        dut.label(),
        dut.transport().name(),
        desc.security
    );
    let mine: Vec<&Golden> = golden
        .iter()
        .filter(|g| g.scenario.file.inputs.security == desc.security)
        .collect();
    // Each scenario boots its own simulator, so they run side by side; other devices one at a time.
    let parallel = matches!(req.dut, crate::dut::DutSpec::Sim);
    let one = |g: &Golden| {
        let started = Instant::now();
        let (verdict, transcript) = match replay(g, req, dut, desc, rt) {
            Ok((v, t)) => (v, t),
            Err(why) => (Verdict::Fail(why), Vec::new()),
        };
        let r = CaseResult {
            id: g.id.clone(),
            group: "golden".into(),
            title: format!(
                "replay of {} ({})",
                g.scenario.name(),
                g.scenario.file.title
            ),
            verdict,
            duration: started.elapsed(),
            transcript,
        };
        progress.report(&label, &r);
        r
    };
    if !parallel {
        return mine.into_iter().map(one).collect();
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = mine.iter().map(|g| s.spawn(|| one(g))).collect();
        handles
            .into_iter()
            .zip(&mine)
            .map(|(h, g)| {
                h.join().unwrap_or_else(|_| CaseResult {
                    id: g.id.clone(),
                    group: "golden".into(),
                    title: g.scenario.file.title.clone(),
                    verdict: Verdict::Fail("replay panicked (suite bug)".into()),
                    duration: Duration::ZERO,
                    transcript: Vec::new(),
                })
            })
            .collect()
    })
}

type Outcome = (Verdict, Vec<crate::model::Exchange>);

/// Why a device set up as `desc` cannot replay `g` in decoded mode, if it cannot.
fn mismatch(g: &Golden, desc: &Description) -> Option<String> {
    let i = &g.scenario.file.inputs;
    let raw = &g.raw["inputs"];
    let differs = |what: &str, theirs: String, ours: String| {
        Some(format!(
            "the scenario's device has {what} {theirs}, this device {ours} (device file)"
        ))
    };
    if i.security == 1 && i.pop != desc.pop {
        return Some("the scenario's device PoP differs from the device file's `pop`".into());
    }
    if i.security == 2
        && (raw["sec2_username"].as_str() != desc.username.as_deref()
            || raw["sec2_password"].as_str() != desc.password.as_deref())
    {
        return Some(
            "the scenario's Security 2 username/password differ from the device file's".into(),
        );
    }
    if i.wifi_conn_attempts.unwrap_or(0) != desc.wifi_conn_attempts {
        return differs(
            "wifi_conn_attempts",
            i.wifi_conn_attempts.unwrap_or(0).to_string(),
            desc.wifi_conn_attempts.to_string(),
        );
    }
    if i.auto_stop != desc.auto_stop {
        return differs(
            "auto_stop",
            i.auto_stop.to_string(),
            desc.auto_stop.to_string(),
        );
    }
    let uses_wifi = g
        .scenario
        .steps
        .iter()
        .any(|s| matches!(s, Step::Advance(_)));
    if uses_wifi && !desc.vectors_world {
        return Some(
            "needs the vectors' Wi-Fi world: run the device with it (sim-device --world sim-device/worlds/vectors.toml) and set `vectors_world = true`".into(),
        );
    }
    None
}

fn replay(
    g: &Golden,
    req: &Request,
    dut: &dyn Dut,
    desc: &Description,
    rt: &Arc<Runtime>,
) -> Result<Outcome, String> {
    let transport = dut.transport();
    if transport.is_line_protocol() {
        if let Some(len) = longest_line(&g.scenario) {
            return Ok((
                Verdict::Skip(format!(
                    "needs a {len}-character console line; the console line buffer holds {CONSOLE_LINE_MAX} (spec §4.3.1)"
                )),
                Vec::new(),
            ));
        }
    }
    let exact = matches!(req.dut, crate::dut::DutSpec::Sim);
    if !exact {
        if let Some(why) = mismatch(g, desc) {
            return Ok((Verdict::Skip(format!("decoded replay: {why}")), Vec::new()));
        }
    }
    // The embedded simulator runs on virtual time, so the replay is exact and never races timers.
    let mut clock: Option<sim_device::runtime::DeviceHandle> = None;
    let link = if exact {
        let file = &g.scenario.file;
        let mut config = vectors::setup::device_config(&file.inputs)?;
        config.misbehave = req.misbehave.clone();
        let draws = vectors::setup::recorded_draws(file)?;
        let rng = vectors::setup::recorded_rng(&draws);
        let world = World {
            wifi: config.wifi.clone(),
            reply_latency: Duration::ZERO,
        };
        let factory: sim_device::runtime::RngFactory =
            Arc::new(move |_boot| Box::new(rng.clone()) as Box<dyn sim_device::DeviceRng>);
        let setup = SimSetup {
            config,
            world,
            rng: Some(factory),
            virtual_clock: true,
        };
        let mut sim = SimDut::new(transport, setup, rt.clone(), "sim".into());
        if transport == Transport::Ble {
            sim = sim.with_ble(&desc.ble)?;
        }
        let (link, handle) = sim.connect_with_handle().map_err(|e| e.to_string())?;
        clock = Some(handle);
        link
    } else {
        dut.connect().map_err(|e| e.to_string())?
    };
    let nimble =
        transport == Transport::Ble && desc.ble.stack == Some(crate::description::BleStack::Nimble);
    let mut rec = Recorder::new(link);
    let mut live = Live::new(g, req.profile)?;
    let mut session = 0u32;
    let mut failures = Vec::new();
    for (i, step) in g.scenario.steps.iter().enumerate() {
        match step {
            Step::Advance(a) => {
                rec.note(format!("step {}: advance {} ms", a.step, a.millis));
                let d = Duration::from_millis(a.millis);
                match &clock {
                    Some(h) => {
                        rt.block_on(h.control(sim_device::runtime::ControlOp::Advance(d)))?;
                    }
                    None => std::thread::sleep(d),
                }
            }
            Step::Request(r) if r.request.is_empty() && nimble => {
                rec.note(format!(
                    "step {} ({}): empty write not sent: NimBLE accepts it without calling protocomm (spec §4.2.3)",
                    r.step, r.endpoint
                ));
            }
            Step::Request(r) => {
                while session < r.session_id {
                    rec.new_session().map_err(|e| e.to_string())?;
                    session += 1;
                }
                let raw_step = g.raw["transcript"].get(i).unwrap_or(&Value::Null);
                let verdict = if exact {
                    exact_step(&mut rec, r, transport)
                } else {
                    live.step(&mut rec, r, raw_step, transport)
                };
                if let Err(why) = verdict {
                    failures.push(format!("step {} ({}): {why}", r.step, r.endpoint));
                }
            }
        }
    }
    let transcript = rec.into_transcript();
    Ok(if failures.is_empty() {
        (Verdict::Pass, transcript)
    } else {
        (Verdict::Fail(failures.join("; ")), transcript)
    })
}

/// The longest console line the scenario needs, if any exceeds the line buffer.
fn longest_line(s: &Scenario) -> Option<usize> {
    s.steps
        .iter()
        .filter_map(|st| match st {
            Step::Request(r) => {
                Some(r.endpoint.len() + 2 + r.session_id.to_string().len() + 2 * r.request.len())
            }
            Step::Advance(_) => None,
        })
        .max()
        .filter(|&l| l > CONSOLE_LINE_MAX)
}

/// What the transport makes of the recorded outcome.
fn expected_on(r: &RequestStep, transport: Transport) -> Expected {
    if r.request.is_empty() {
        // HTTP closes on an empty body; the console needs three arguments (spec §4.1, §4.3.1).
        let _ = transport;
        return Expected::Error(vectors::schema::ExpectedError {
            code: -1,
            name: "transport refuses an empty body".into(),
        });
    }
    r.expected.clone()
}

fn send(rec: &mut Recorder, r: &RequestStep, body: &[u8], plain: Option<&[u8]>) -> Answer {
    match rec.request(&r.endpoint, body, plain, &r.note) {
        Ok(a) => a,
        // A stopped service refuses connections: the recording's "transport gone" (-2).
        Err(LinkError::Unreachable(why)) | Err(LinkError::Gone(why)) => Answer::NoResponse(why),
        Err(e) => Answer::NoResponse(e.to_string()),
    }
}

/// What an answer says against the recording, before the bytes are compared.
enum Presence {
    /// Settled: one side has a response and the other none, or both none.
    Done(Result<(), String>),
    /// Both have a response: `(want, got)`, for the caller to compare.
    Compare(Vec<u8>, Vec<u8>),
}

fn presence(expected: Expected, answer: Answer) -> Presence {
    match (expected, answer) {
        (Expected::Error(_), Answer::NoResponse(_)) => Presence::Done(Ok(())),
        (Expected::Error(e), Answer::Data(d)) => Presence::Done(Err(format!(
            "expected no response ({}), got {}",
            e.name,
            short_hex(&d)
        ))),
        (Expected::Response(_), Answer::NoResponse(how)) => {
            Presence::Done(Err(format!("expected a response, got none ({how})")))
        }
        (Expected::Response(want), Answer::Data(got)) => Presence::Compare(want, got),
    }
}

fn exact_step(rec: &mut Recorder, r: &RequestStep, transport: Transport) -> Result<(), String> {
    let answer = send(rec, r, &r.request, None);
    match presence(expected_on(r, transport), answer) {
        Presence::Done(v) => v,
        Presence::Compare(want, got) => {
            if got == want {
                Ok(())
            } else if r.nondeterministic {
                let ours = vectors::compare::recover_plaintext(
                    &got,
                    &want,
                    r.response_plaintext.as_deref(),
                )?;
                let theirs = r.response_plaintext.clone().unwrap_or(want);
                vectors::compare::compare_structure(&r.endpoint, &ours, &theirs)
            } else {
                Err(format!(
                    "response differs: expected {}, got {}",
                    short_hex(&want),
                    short_hex(&got)
                ))
            }
        }
    }
}

/// The client side of a decoded-mode replay.
struct Live {
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
    use prost::Message;
    use proto::protocomm::{sec1_payload, sec2_payload, session_data, SessionData};
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
    fn new(g: &Golden, profile: prov_client::Profile) -> Result<Self, String> {
        let inputs = &g.raw["inputs"];
        let secret = inputs["client_secrets"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|s| s["hex"].as_str())
            .and_then(|h| hex::decode(h).ok())
            .unwrap_or_default();
        let text = |k: &str| inputs[k].as_str().map(|p| p.as_bytes().to_vec());
        let security = g.scenario.file.inputs.security;
        let candidates = match security {
            1 => vec![text("client_pop"), text("pop"), None],
            _ => vec![text("client_password"), text("sec2_password")],
        };
        Ok(Self {
            handshake: None,
            response0: None,
            cipher: (security == 0).then_some(Cipher::Plain),
            security,
            secret,
            candidates,
            recorded_r0: None,
            username: Vec::new(),
            keeps_counter: profile == prov_client::Profile::EspIdf55,
        })
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
                        let mut draw = prov_client::FixedRng::new(secret.to_vec());
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
    fn step(
        &mut self,
        rec: &mut Recorder,
        r: &RequestStep,
        raw: &Value,
        transport: Transport,
    ) -> Result<(), String> {
        let expected = expected_on(r, transport);
        let plain = raw["request_plaintext_hex"]
            .as_str()
            .and_then(|h| hex::decode(h).ok());
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
            if let Ok(sd) =
                <proto::protocomm::SessionData as prost::Message>::decode(r.request.as_slice())
            {
                if let Some(proto::protocomm::session_data::Proto::Sec2(p)) = sd.proto {
                    if let Some(proto::protocomm::sec2_payload::Payload::Sc0(c0)) = p.payload {
                        self.username = c0.client_username;
                    }
                }
            }
        }
        let live_c1 = match (&kind, self.response0.clone()) {
            (Kind::Command1, Some(r0)) => self.command1(&r.request, &r0),
            _ => None,
        };
        let (body, sent_plain) = match live_c1 {
            Some(c1) => (c1, None),
            None => match (r.endpoint.as_str(), &plain, &mut self.cipher) {
                ("prov-session" | "proto-ver", _, _) => (r.request.clone(), None),
                (_, Some(p), Some(c)) if self.security > 0 => (c.encrypt(p), Some(p.clone())),
                _ => (r.request.clone(), None),
            },
        };
        let answer = send(rec, r, &body, sent_plain.as_deref());
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
