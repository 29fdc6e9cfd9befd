//! One case on one fresh link: applicability, connection, the body (a panic in it is a failure of the
//! case, not of the run), and crash attribution: when the link saw the device crash (a reset banner, a
//! new boot count, a console that went silent for good) the verdict is *crashed*, naming the last
//! request sent.

use std::time::Instant;

use crate::case::{short_hex, Case, Ctx, Env, Stop};
use crate::dut::Dut;
use crate::link::Recorder;
use crate::model::{Answer, CaseResult, Exchange, Verdict};

/// Runs one case on a fresh link to the device it asks for.
pub fn run_case(dut: &dyn Dut, case: &Case, env: Env<'_>) -> CaseResult {
    let started = Instant::now();
    let base = |verdict, transcript| CaseResult {
        id: case.id.clone(),
        group: case.group.name().into(),
        title: case.title.clone(),
        verdict,
        duration: started.elapsed(),
        transcript,
    };
    if let Some(why) = (case.applies)(&env) {
        return base(Verdict::Skip(why), Vec::new());
    }
    let link = match dut.connect(&case.boot) {
        Ok(l) => l,
        Err(e) => return base(Verdict::Fail(e.to_string()), Vec::new()),
    };
    let mut ctx = Ctx::new(env, Recorder::new(link), &case.id);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (case.run)(&mut ctx)));
    let verdict = match outcome {
        Ok(Ok(())) => Verdict::Pass,
        Ok(Err(Stop::Fail(why))) => Verdict::Fail(why),
        Ok(Err(Stop::Skip(why))) => Verdict::Skip(why),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Verdict::Fail(format!("case panicked (suite bug): {msg}"))
        }
    };
    let evidence = ctx.rec.link().crash_evidence();
    let transcript = ctx.rec.into_transcript();
    let verdict = match evidence {
        Some(how) => Verdict::Crashed(crash_detail(&how, &transcript, &verdict)),
        None => verdict,
    };
    base(verdict, transcript)
}

/// What a crashed verdict says: how the crash showed, the request that crashed the device (where the
/// link could tell) or else the last request sent, and what the case saw.
pub(super) fn crash_detail(how: &str, transcript: &[Exchange], verdict: &Verdict) -> String {
    let show = |x: &Exchange| {
        let note = if x.note.is_empty() {
            String::new()
        } else {
            format!(" ({})", x.note)
        };
        format!("{} {}{note}", x.endpoint, short_hex(&x.request))
    };
    let requests = || transcript.iter().filter(|x| x.endpoint != "-");
    let culprit = requests()
        .find(|x| matches!(&x.answer, Answer::NoResponse(why) if why.contains("rebooted")));
    let at = match (culprit, requests().next_back()) {
        (Some(x), _) => format!("the request that crashed it: {}", show(x)),
        (None, Some(x)) => format!("last request sent: {}", show(x)),
        (None, None) => "no request sent".to_owned(),
    };
    let then = match verdict.detail() {
        Some(d) => format!("{}: {d}", verdict.word()),
        None => verdict.word().to_owned(),
    };
    format!("device crashed: {how}; {at}; the case then said: {then}")
}
