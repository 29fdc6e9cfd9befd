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
use crate::client::{Cipher, Handshake, Sec1Client, Sec2Client};
use crate::description::Description;
use crate::dut::sim::{SimDut, SimSetup};
use crate::dut::Dut;
use crate::link::{LinkError, Recorder, Transport};
use crate::matrix::Request;
use crate::model::{Answer, CaseResult, Verdict};
use crate::runner::{Filter, Progress};

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
pub fn plan(_req: &Request, filter: &Filter) -> Result<Vec<Golden>, String> {
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

/// How many golden cases land in a column of `transport` × `security`.
pub fn count_for(golden: &[Golden], _transport: Transport, security: u8) -> usize {
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
        };
        SimDut::new(transport, setup, rt.clone(), "sim".into())
            .connect()
            .map_err(|e| e.to_string())?
    } else {
        dut.connect().map_err(|e| e.to_string())?
    };
    let mut rec = Recorder::new(link);
    let mut live = Live::new(g, req.profile)?;
    let mut session = 0u32;
    let mut failures = Vec::new();
    for (i, step) in g.scenario.steps.iter().enumerate() {
        match step {
            Step::Advance(a) => {
                rec.note(format!("step {}: advance {} ms", a.step, a.millis));
                std::thread::sleep(Duration::from_millis(a.millis));
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

fn exact_step(rec: &mut Recorder, r: &RequestStep, transport: Transport) -> Result<(), String> {
    let answer = send(rec, r, &r.request, None);
    match (expected_on(r, transport), answer) {
        (Expected::Error(_), Answer::NoResponse(_)) => Ok(()),
        (Expected::Error(e), Answer::Data(d)) => Err(format!(
            "expected no response ({}), got {}",
            e.name,
            short_hex(&d)
        )),
        (Expected::Response(_), Answer::NoResponse(how)) => {
            Err(format!("expected a response, got none ({how})"))
        }
        (Expected::Response(want), Answer::Data(got)) => {
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
    /// Failed Security 1 Command1s since Command0: an ESP-IDF ≤ 5.5 device has moved its CTR stream
    /// 32 bytes for each (spec §8.1), network_provisioning rebuilds it.
    failed_command1: u64,
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
    fn new(g: &Golden, profile: crate::profile::Profile) -> Result<Self, String> {
        let inputs = &g.raw["inputs"];
        let secret = |what: &str| {
            inputs["client_secrets"]
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .find(|s| s["what"].as_str().is_some_and(|w| w.contains(what)))
                })
                .and_then(|s| s["hex"].as_str())
                .and_then(|h| hex::decode(h).ok())
        };
        let security = g.scenario.file.inputs.security;
        let handshake = match security {
            1 => secret("x25519")
                .and_then(|k| <[u8; 32]>::try_from(k).ok())
                .map(|k| {
                    let pop = match inputs.get("client_pop") {
                        Some(v) => v.as_str().map(|p| p.as_bytes().to_vec()),
                        None => inputs["pop"].as_str().map(|p| p.as_bytes().to_vec()),
                    };
                    Handshake::Sec1(Box::new(Sec1Client::new(pop, k)))
                }),
            2 => secret("srp")
                .and_then(|a| <[u8; 32]>::try_from(a).ok())
                .map(|a| {
                    let user = inputs["sec2_username"].as_str().unwrap_or("wifiprov");
                    let pass = inputs["client_password"]
                        .as_str()
                        .or_else(|| inputs["sec2_password"].as_str())
                        .unwrap_or("");
                    // The recorded `a` is the draw before esp_prov sets its top bit; `from_rng`
                    // does the same.
                    let mut draw = crate::client::FixedRng::new(a.to_vec());
                    Handshake::Sec2(Box::new(Sec2Client::from_rng(
                        user.as_bytes(),
                        pass.as_bytes(),
                        &mut draw,
                    )))
                }),
            _ => None,
        };
        Ok(Self {
            handshake,
            response0: None,
            cipher: (security == 0).then_some(Cipher::Plain),
            security,
            failed_command1: 0,
            keeps_counter: profile == crate::profile::Profile::EspIdf55,
        })
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
        let (body, sent_plain) = match (&mut self.handshake, &self.response0) {
            (Some(hs), Some(r0)) if kind == Kind::Command1 => {
                let offset = if self.keeps_counter {
                    32 * self.failed_command1
                } else {
                    0
                };
                let c1 = match hs {
                    Handshake::Sec1(c) => c.command1_at(r0, offset).ok(),
                    other => other.command1(r0).ok().flatten(),
                };
                (c1.unwrap_or_else(|| r.request.clone()), None)
            }
            _ => match (r.endpoint.as_str(), &plain, &mut self.cipher) {
                ("prov-session" | "proto-ver", _, _) => (r.request.clone(), None),
                (_, Some(p), Some(c)) if self.security > 0 => (c.encrypt(p), Some(p.clone())),
                _ => (r.request.clone(), None),
            },
        };
        let answer = send(rec, r, &body, sent_plain.as_deref());
        match (&answer, &kind) {
            (Answer::NoResponse(_), Kind::Command1) => self.failed_command1 += 1,
            (_, Kind::Command0) => self.failed_command1 = 0,
            _ => {}
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
        match (expected, answer) {
            (Expected::Error(_), Answer::NoResponse(_)) => Ok(()),
            (Expected::Error(e), Answer::Data(d)) => Err(format!(
                "expected no response ({}), got {}",
                e.name,
                short_hex(&d)
            )),
            (Expected::Response(_), Answer::NoResponse(how)) => {
                Err(format!("expected a response, got none ({how})"))
            }
            (Expected::Response(want), Answer::Data(got)) => self.judge(rec, r, &want, &got),
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
