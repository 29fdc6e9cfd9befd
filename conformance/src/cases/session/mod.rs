//! `prov-session`: handshakes of each scheme, wrong credentials and retries, replays, session ids, and
//! the Security 2 checks on `A` and the username (spec §3, §7.1, §8.1).
//!
//! Expectations come from `sec1_wrong_pop.json`, `sec1_no_pop*.json`, `sec2_wrong_password.json` and
//! `bad_inputs_sec1.json` / `bad_inputs_sec2.json`.
//!
//! This module holds the catalogue and the helpers shared with the data and negative groups
//! (explicit-cipher calls, raw "must be refused" requests); `sec0`, `sec1` and `sec2` have each
//! scheme's handshake cases, `lifecycle` the restart / replay / ordering / session-id cases.

use crate::case::Group::Session as G;

use crate::case::{only_sec, secure, session_possible, Case, Env};
use crate::steps::session::secure_session;

mod lifecycle;
mod sec0;
mod sec1;
mod sec2;

use lifecycle::{cmd0_restart, cmd1_before_cmd0, cmd1_replay, session_id_change};
use sec0::sec0_session;
use sec1::{sec1_handshake, sec1_no_pop, sec1_pop_retry, sec1_pop_wrong};
use sec2::{
    sec2_a_n, sec2_a_short, sec2_a_zero, sec2_handshake, sec2_password_retry, sec2_password_wrong,
    sec2_username_too_long, sec2_username_wrong,
};

/// The session cases.
pub fn cases() -> Vec<Case> {
    vec![
        G.case("SEC0-SESSION", "Security 0: the session command is answered with sec0{sr{Success}}", |e| only_sec(e, 0), sec0_session),
        G.case("SEC1-HANDSHAKE", "Security 1: Command0/Command1 with the device's PoP succeed and the device verify data checks out", sec1_only, sec1_handshake),
        G.case("SEC1-POP-WRONG", "Security 1: Command1 with a wrong PoP gets no response and data endpoints stay closed", sec1_only, sec1_pop_wrong),
        G.case("SEC1-POP-RETRY", "Security 1: after a wrong PoP, Command1 with the right PoP from offset 0 succeeds (network_prov) or fails (ESP-IDF ≤ 5.5, Zephyr: counter advanced)", sec1_only, sec1_pop_retry),
        G.case("SEC1-NO-POP", "Security 1 without PoP: the handshake with no PoP succeeds and data works", sec1_no_pop_applies, sec1_no_pop),
        G.case("SEC2-HANDSHAKE", "Security 2: SRP-6a handshake succeeds, the device proof checks out and device_nonce is 12 bytes ending in counter 1", sec2_only, sec2_handshake),
        G.case("SEC2-PASSWORD-WRONG", "Security 2: Command1 with a proof from a wrong password gets no response and data endpoints stay closed", sec2_only, sec2_password_wrong),
        G.case("SEC2-USERNAME-WRONG", "Security 2: an unknown username passes Command0 but Command1 gets no response", sec2_only, sec2_username_wrong),
        G.case("SEC2-PASSWORD-RETRY", "Security 2: after a wrong password, Command1 with the right proof for the same Command0 succeeds", sec2_only, sec2_password_retry),
        G.case("SESSION-CMD0-RESTART", "a new Command0 on an established session restarts it: old keys stop working, the new handshake works", secure_session, cmd0_restart),
        G.case("SESSION-CMD1-REPLAY", "a replayed Command1 on an established session gets no response and the session is kept", secure_session, cmd1_replay),
        G.case("SESSION-CMD1-BEFORE-CMD0", "Command1 before any Command0 gets no response", secure, cmd1_before_cmd0),
        G.case("SESSION-ID-CHANGE", "a new transport session drops the established secure session; a handshake on the new one works", secure_session, session_id_change),
        G.case("SEC2-A-SHORT", "Security 2: Command0 whose A is not exactly 384 bytes (383, 385, 32) gets no response", sec2_only, sec2_a_short),
        G.case("SEC2-A-ZERO", "Security 2: Command0 with A = 0 gets no response (SRP zero-key bypass)", sec2_only, sec2_a_zero),
        G.case("SEC2-A-N", "Security 2: Command0 with A = N gets no response (A mod N = 0)", sec2_only, sec2_a_n),
        G.case("SEC2-USERNAME-TOO-LONG", "Security 2: Command0 with a 65537-byte username gets no response", sec2_only, sec2_username_too_long),
    ]
}

fn sec1_only(env: &Env<'_>) -> Option<String> {
    only_sec(env, 1)
}

fn sec2_only(env: &Env<'_>) -> Option<String> {
    only_sec(env, 2).or_else(|| session_possible(env))
}

fn sec1_no_pop_applies(env: &Env<'_>) -> Option<String> {
    only_sec(env, 1).or_else(|| {
        env.desc
            .pop
            .is_some()
            .then(|| "the device has a PoP (the device file sets `pop`)".into())
    })
}
