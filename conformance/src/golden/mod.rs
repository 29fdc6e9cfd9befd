//! Golden replay: the ESP-IDF v5.5.5 transcripts of `vectors/esp-idf/` as cases of the catalogue
//! (`GOLDEN-<scenario>`), run by the same runner, reported the same way.
//!
//! Each scenario's case asks for a device booted from its recording ([`Boot::Recording`]). Two modes
//! follow from what the device can do:
//! - **byte-exact** (`exact`; the embedded simulator, over any of its transports or none): the device
//!   is configured from the scenario's inputs with its recorded random values injected and a virtual
//!   clock, and every response must equal the recording byte for byte;
//! - **decoded** (`decoded`; any other device): the device's randomness is its own, so the client
//!   re-runs the scenario with its recorded secrets (X25519 key, SRP `a`), re-encrypts each recorded
//!   plaintext in the live session, and judges outcomes (response or transport error) and decrypted
//!   plaintexts. The device must be set up like the scenario (security, PoP/password, the vectors' Wi-Fi
//!   world), so such a scenario is "not applicable" until the device file says it is.
//!
//! Transport limits are not device faults: an empty body is refused by every transport (spec §4.1,
//! §4.3.1), so such a step expects no response; a scenario needing a console line over 255 characters
//! cannot run over the console and is not applicable there; NimBLE ignores an empty write.

mod decoded;
mod exact;

use std::sync::Arc;
use std::time::Duration;

use vectors::schema::{Expected, ExpectedError, RequestStep, Step};
use vectors::Scenario;

use crate::case::{short_hex, Case, Ctx, Env, Group, Leaves, Step as CaseStep, Stop};
use crate::description::{BleStack, Description};
use crate::dut::Boot;
use crate::link::{LinkError, Recorder, Transport};
use crate::model::Answer;

/// One case per published scenario, in file order.
pub fn cases() -> Result<Vec<Case>, String> {
    vectors::EMBEDDED
        .iter()
        .map(|(name, json)| {
            let scenario = Scenario::parse(&format!("vectors/esp-idf/{name}.json"), json)
                .map_err(|e| e.to_string())?;
            Ok(case(Arc::new(scenario)))
        })
        .collect()
}

fn case(scenario: Arc<Scenario>) -> Case {
    let s = scenario.clone();
    let applies = move |env: &Env<'_>| applies(&s, env);
    let s = scenario.clone();
    let run = move |ctx: &mut Ctx<'_>| replay(&s, ctx);
    Case {
        id: format!("GOLDEN-{}", scenario.name()),
        group: Group::Golden,
        title: format!("replay of {} ({})", scenario.name(), scenario.file.title),
        applies: Arc::new(applies),
        // A scenario provisions, fails or stops the device: on a device that keeps its state it runs
        // after the catalogue.
        leaves: Leaves::Stopped,
        boot: Boot::Recording(scenario),
        run: Arc::new(run),
    }
}

/// Why the scenario does not apply to the column, if it does not.
fn applies(s: &Scenario, env: &Env<'_>) -> Option<String> {
    let sec = s.file.inputs.security;
    if sec != env.security {
        return Some(format!("a Security {sec} scenario"));
    }
    if let (true, Some(max)) = (env.transport.is_line_protocol(), env.desc.line_max()) {
        if let Some(len) = longest_line(s).filter(|&l| l > max) {
            return Some(format!(
                "needs a {len}-character console line; the console line holds {max} (spec §4.3.1)"
            ));
        }
    }
    let custom = s
        .steps
        .iter()
        .any(|st| matches!(st, Step::Request(r) if r.endpoint == vectors::setup::CUSTOM_ENDPOINT));
    if custom
        && !env.recordings
        && !env
            .desc
            .custom_endpoints
            .iter()
            .any(|e| e == vectors::setup::CUSTOM_ENDPOINT)
    {
        return Some(format!(
            "the scenario talks to the `{}` endpoint, which the device file does not list (custom_endpoints)",
            vectors::setup::CUSTOM_ENDPOINT
        ));
    }
    if !env.recordings {
        if let Some(why) = mismatch(s, env.desc) {
            return Some(format!("decoded replay: {why}"));
        }
    }
    None
}

/// Why a device set up as `desc` cannot replay `s` in decoded mode, if it cannot.
fn mismatch(s: &Scenario, desc: &Description) -> Option<String> {
    let i = &s.file.inputs;
    let differs = |what: &str, theirs: String, ours: String| {
        Some(format!(
            "the scenario's device has {what} {theirs}, this device {ours} (device file)"
        ))
    };
    if i.security == 1 && i.pop != desc.pop {
        return Some("the scenario's device PoP differs from the device file's `pop`".into());
    }
    if i.security == 2 && (i.sec2_username != desc.username || i.sec2_password != desc.password) {
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
    let uses_wifi = s.steps.iter().any(|st| matches!(st, Step::Advance(_)));
    if uses_wifi && !desc.vectors_world {
        return Some(
            "needs the vectors' Wi-Fi world: run the device with it (sim-device --world sim-device/worlds/vectors.toml) and set `vectors_world = true`".into(),
        );
    }
    None
}

/// The longest console line the scenario needs.
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
}

/// Replays `s` on the case's link, byte-exact where the device was booted from the recording.
fn replay(s: &Scenario, ctx: &mut Ctx<'_>) -> CaseStep<()> {
    let exact = ctx.env.recordings;
    let nimble =
        ctx.env.transport == Transport::Ble && ctx.env.desc.ble.stack == Some(BleStack::Nimble);
    // The scenario's own secrets stay out of reports too (its notes quote its SetConfig).
    for ap in &s.file.inputs.fake_wifi.aps {
        ctx.rec.redact(ap.password.as_bytes());
    }
    let mut live = decoded::Live::new(s, ctx.env.profile);
    let mut session = 0u32;
    let mut failures = Vec::new();
    for step in &s.steps {
        match step {
            Step::Advance(a) => {
                let why = format!("step {}: advance", a.step);
                ctx.rec.pause(Duration::from_millis(a.millis), &why)?;
            }
            Step::Request(r) if r.request.is_empty() && nimble => {
                ctx.rec.note(format!(
                    "step {} ({}): empty write not sent: NimBLE accepts it without calling protocomm (spec §4.2.3)",
                    r.step, r.endpoint
                ));
            }
            Step::Request(r) => {
                while session < r.session_id {
                    ctx.rec.new_session()?;
                    session += 1;
                }
                let verdict = if exact {
                    exact::step(&mut ctx.rec, r)
                } else {
                    live.step(&mut ctx.rec, r)
                };
                if let Err(why) = verdict {
                    failures.push(format!("step {} ({}): {why}", r.step, r.endpoint));
                }
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Stop::Fail(failures.join("; ")))
    }
}

/// What the transport makes of the recorded outcome: an empty body never reaches protocomm (HTTP
/// closes on it, the console needs three arguments, spec §4.1, §4.3.1).
fn expected_on(r: &RequestStep) -> Expected {
    if r.request.is_empty() {
        return Expected::Error(ExpectedError {
            code: -1,
            name: "transport refuses an empty body".into(),
        });
    }
    r.expected.clone()
}

fn send(
    rec: &mut Recorder,
    r: &RequestStep,
    body: &[u8],
    plain: Option<&[u8]>,
) -> Result<Answer, String> {
    match rec.request(&r.endpoint, body, plain, &r.note) {
        Ok(a) => Ok(a),
        // A stopped service refuses connections: the recording's "transport gone" (-2).
        Err(LinkError::Unreachable(why)) | Err(LinkError::Gone(why)) => Ok(Answer::NoResponse(why)),
        Err(e) => Err(e.to_string()),
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
