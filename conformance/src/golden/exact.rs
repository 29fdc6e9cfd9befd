//! Byte-exact replay: the device was booted from the recording, so every response must be the
//! recorded one (a response that depends on uninitialised memory on a chip is compared by structure).

use vectors::schema::RequestStep;

use super::{expected_on, presence, send, Presence};
use crate::case::short_hex;
use crate::link::Recorder;

/// Sends the recorded request and judges the answer against the recorded one.
pub(super) fn step(rec: &mut Recorder, r: &RequestStep) -> Result<(), String> {
    let answer = send(rec, r, &r.request, None)?;
    match presence(expected_on(r), answer) {
        Presence::Done(v) => v,
        Presence::Compare(want, got) if got == want => Ok(()),
        Presence::Compare(want, got) if r.nondeterministic => {
            let ours =
                vectors::compare::recover_plaintext(&got, &want, r.response_plaintext.as_deref())?;
            let theirs = r.response_plaintext.clone().unwrap_or(want);
            vectors::compare::compare_structure(&r.endpoint, &ours, &theirs)
        }
        Presence::Compare(want, got) => Err(format!(
            "response differs: expected {}, got {}",
            short_hex(&want),
            short_hex(&got)
        )),
    }
}
