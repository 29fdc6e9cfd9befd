//! The encrypted data phase: Security 1 keystream continuity, the Security 2 nonce counter, data
//! before / outside the session, tampered and empty ciphertexts (spec §1.2, §3.1, §3.3, §3.4.4, §7.1).
//!
//! Expectations come from `bad_inputs_sec1.json`, `bad_inputs_sec2.json`, `bad_inputs_sec0.json` and
//! `sec1_full_flow.json` (empty payload: the chip's `malloc(0)` returns NULL).

use crate::case::Group::Data as G;
use crate::case::{only_sec, secure, short_hex, Case, Ctx, Env, Step, Stop};
use crate::ensure;
use crate::model::Answer;
use crate::steps::session::{
    can_session, command1, finish_with, in_session, pending, raw, refuse, refuse_with,
    secure_session, status_ok,
};
use prov_client::{messages, Cipher, Ctr, Gcm};

/// The data cases.
pub fn cases() -> Vec<Case> {
    vec![
        G.case("DATA-SEC1-KEYSTREAM", "Security 1: 20 GetStatus round trips on one continuous AES-CTR stream shared by both directions", |e| only_sec(e, 1), sec1_keystream),
        G.case("DATA-SEC2-NONCE-COUNTER", "Security 2: the GCM nonce counter starts at 1 and advances by exactly one per message in each direction", sec2_session, sec2_nonce_counter),
        G.case("DATA-BEFORE-HANDSHAKE", "Security 1/2: data endpoints before the handshake (and between Command0 and Command1) get no response", secure, before_handshake),
        G.case("DATA-SEC0-NO-HANDSHAKE", "Security 0: data endpoints answer in plaintext without any prov-session exchange", |e| only_sec(e, 0), sec0_no_handshake),
        G.case("DATA-PLAINTEXT-IN-SESSION", "Security 1/2: a plaintext request in an established session gets no response; the session goes on", secure_session, plaintext_in_session),
        G.case("DATA-OTHER-SESSION-ID", "Security 1/2: data on a transport session other than the established one gets no response", secure_session, other_session_id),
        G.case("DATA-SEC2-TAMPERED", "Security 2: a replayed, tag-corrupted, body-corrupted or short ciphertext gets no response and does not advance the counter", sec2_session, sec2_tampered),
        G.case("DATA-EMPTY-PAYLOAD", "Security 1/2: an empty encrypted payload (Sec2: tag only) gets no response and leaves keystream/counter alone", |e| secure_session(e).or_else(|| crate::case::empty_body_judged(e)), empty_payload),
        G.case("DATA-SEC1-GARBAGE", "Security 1: ciphertext that decrypts to garbage gets no response but consumes its length of keystream", |e| only_sec(e, 1), sec1_garbage),
    ]
}

fn sec2_session(env: &Env<'_>) -> Option<String> {
    only_sec(env, 2).or_else(|| secure_session(env))
}

fn ctr(cipher: &mut Cipher) -> Step<&mut Ctr> {
    match cipher {
        Cipher::Ctr(c) => Ok(c),
        other => Err(Stop::Fail(format!(
            "case bug: expected a Security 1 cipher, got {other:?}"
        ))),
    }
}

fn gcm(cipher: &mut Cipher) -> Step<&mut Gcm> {
    match cipher {
        Cipher::Gcm(g) => Ok(g),
        other => Err(Stop::Fail(format!(
            "case bug: expected a Security 2 cipher, got {other:?}"
        ))),
    }
}

/// A plaintext long enough that its garbage decryption practically never decodes as a valid message
/// (SetConfig with a 32-byte SSID and a 63-byte passphrase, 101 bytes).
fn long_plaintext() -> Vec<u8> {
    messages::set_config(&[b's'; 32], &[b'p'; 63], &[], 0)
}

// ---- Security 1 keystream -----------------------------------------------------------------------

fn sec1_keystream(ctx: &mut Ctx<'_>) -> Step<()> {
    let mut cipher = ctx.establish()?;
    let start = ctr(&mut cipher)?.position();
    ensure!(
        start == 64,
        "case bug: the client stream is at {start} after the handshake, expected 64"
    );
    let req = messages::get_status();
    for i in 1..=20 {
        let s = ctr(&mut cipher)?;
        let at = s.position();
        let wire = s.encrypt(&req);
        let note = format!(
            "GetStatus #{i} (request at keystream bytes {at}..{})",
            at + 2
        );
        let d = match ctx.rec.request("prov-config", &wire, Some(&req), &note)? {
            Answer::Data(d) => d,
            Answer::NoResponse(_) => {
                return Err(Stop::Fail(format!(
                    "{note}: no response. The device did not decrypt the request with the continuing keystream \
                     (one AES-CTR stream for both directions, never reset per message; after the handshake \
                     it is at byte 64; spec §3.3 'Data phase', vectors/esp-idf/sec1_full_flow.json). A device \
                     that restarts the stream for every message decrypts it with bytes 0..2 into garbage."
                )))
            }
        };
        let s = ctr(&mut cipher)?;
        let resp_at = s.position();
        let plain = s.decrypt(&d);
        ctx.rec.set_answer_plain(&plain);
        if messages::decode_resp_get_status(&plain).is_err() {
            let probe = s.clone();
            let found = (0..resp_at + 64)
                .find(|&k| messages::decode_resp_get_status(&probe.decrypt_at(k, &d)).is_ok());
            let why = match found {
                Some(0) => " It decrypts at keystream byte 0: the device restarts the stream for every message (keystream reuse).".to_string(),
                Some(k) => format!(" It decrypts at keystream byte {k}: the device's stream position differs from the client's."),
                None => " It decrypts to a GetStatus answer at no keystream position 0…: garbage or another key.".to_string(),
            };
            return Err(Stop::Fail(format!(
                "GetStatus #{i}: the response {} does not decrypt to a RespGetStatus at keystream byte {resp_at} \
                 (right after the request).{why} (spec §3.3 'Data phase': one stream, both directions, byte-granular)",
                short_hex(&d)
            )));
        }
    }
    Ok(())
}

fn sec1_garbage(ctx: &mut Ctx<'_>) -> Step<()> {
    let mut cipher = ctx.establish()?;
    status_ok(ctx, &mut cipher, "GetStatus", "spec §3.3")?;
    // Ciphertext that looks random but decrypts to bytes no protobuf decoder accepts: 101 × 0xFF is a
    // field key whose varint never ends (protobuf-c and prost both refuse it). Random ciphertext would
    // decrypt to random plaintext, which now and then decodes as a valid request and is answered.
    let junk = ctr(&mut cipher)?.encrypt(&[0xFF; 101]);
    refuse(
        ctx,
        "prov-config",
        &junk,
        "101 bytes of ciphertext (plaintext: an endless varint) to prov-config",
        "decrypts to bytes that do not decode (spec §7.1; vectors/esp-idf/bad_inputs_sec1.json step 24)",
    )?;
    status_ok(
        ctx,
        &mut cipher,
        "GetStatus with the keystream advanced by the 101 rejected bytes",
        "a request that fails after decryption still consumes keystream on the device (spec §3.3 'Consequences'; \
         vectors/esp-idf/bad_inputs_sec1.json steps 24–25)",
    )
}

// ---- Security 2 nonce counter -------------------------------------------------------------------

fn sec2_nonce_counter(ctx: &mut Ctx<'_>) -> Step<()> {
    let mut cipher = ctx.establish()?;
    let first = gcm(&mut cipher)?.counter();
    ensure!(
        first == Some(1),
        "the device_nonce counter is {first:?}, expected 1 (patch 1, spec §3.4.3 step 4)"
    );
    let req = messages::get_status();
    for i in 0..10u32 {
        let g = gcm(&mut cipher)?;
        let c = g.counter().unwrap_or_default();
        ensure!(c == 1 + 2 * i, "case bug: client counter {c}");
        let wire = g.encrypt(&req);
        let note = format!(
            "GetStatus #{} (request counter {c}, response expected at {})",
            i + 1,
            c + 1
        );
        let d = match ctx.rec.request("prov-config", &wire, Some(&req), &note)? {
            Answer::Data(d) => d,
            Answer::NoResponse(_) => {
                return Err(Stop::Fail(format!(
                    "{note}: no response. The device did not accept a request sealed with counter {c}: requests \
                     use odd counters 1, 3, 5… when every message advances the one shared counter (spec §3.4.4)"
                )))
            }
        };
        let g = gcm(&mut cipher)?;
        match g.decrypt(&d) {
            Ok(p) => {
                ctx.rec.set_answer_plain(&p);
                messages::decode_resp_get_status(&p).map_err(|e| {
                    Stop::Fail(format!(
                        "{note}: decrypted response is not a GetStatus answer: {e}"
                    ))
                })?;
            }
            Err(_) => {
                let lo = c.saturating_sub(8);
                let why = match g.find_counter(&d, lo..c + 16) {
                    Some(k) if k == c => format!(
                        "it authenticates with counter {k}, the request's own nonce: the device reuses nonces \
                         (counter not advanced after decrypting)"
                    ),
                    Some(k) => format!("it authenticates with counter {k} instead"),
                    None => format!(
                        "it authenticates with no counter in {lo}..{}: wrong key, wrong IV rule (patch 0?) or garbage",
                        c + 16
                    ),
                };
                return Err(Stop::Fail(format!(
                    "{note}: the response {} does not authenticate with counter {}; {why} (spec §3.4.4: one counter, \
                     +1 after every successful GCM operation in either direction)",
                    short_hex(&d),
                    c + 1
                )));
            }
        }
    }
    Ok(())
}

fn sec2_tampered(ctx: &mut Ctx<'_>) -> Step<()> {
    let mut cipher = ctx.establish()?;
    let req = messages::get_status();
    let first_wire = gcm(&mut cipher)?
        .encrypt_with_counter(&req, 1)
        .unwrap_or_default();
    status_ok(
        ctx,
        &mut cipher,
        "GetStatus (counters 1 and 2)",
        "spec §3.4.4",
    )?;
    refuse(
        ctx,
        "prov-config",
        &first_wire,
        "the first GetStatus ciphertext again (replay)",
        "the counter has moved on, so the replay fails authentication (spec §3.4.4, §7.1; vectors/esp-idf/bad_inputs_sec2.json step 17)",
    )?;
    let c = gcm(&mut cipher)?.counter().unwrap_or_default();
    let good = gcm(&mut cipher)?
        .encrypt_with_counter(&req, c)
        .unwrap_or_default();
    let mut bad_tag = good.clone();
    if let Some(b) = bad_tag.last_mut() {
        *b ^= 0x01;
    }
    refuse(
        ctx,
        "prov-config",
        &bad_tag,
        &format!("GetStatus (counter {c}) with the last tag byte flipped"),
        "GCM authentication fails (spec §3.4.4, §7.1; vectors/esp-idf/bad_inputs_sec2.json step 18)",
    )?;
    let mut bad_body = good.clone();
    bad_body[0] ^= 0x80;
    refuse(
        ctx,
        "prov-config",
        &bad_body,
        &format!("GetStatus (counter {c}) with the first ciphertext byte flipped"),
        "GCM authentication fails (spec §3.4.4, §7.1)",
    )?;
    refuse(
        ctx,
        "prov-config",
        &[0x01, 0x02, 0x03],
        "a 3-byte ciphertext (shorter than the 16-byte tag)",
        "spec §3.4.4, §7.1; vectors/esp-idf/bad_inputs_sec2.json step 20",
    )?;
    status_ok(
        ctx,
        &mut cipher,
        &format!("GetStatus with counter {c}, the nonce of the failed attempts"),
        "failed decryptions do not advance the counter (spec §3.4.4; vectors/esp-idf/bad_inputs_sec2.json steps 19 and 21)",
    )
}

// ---- Outside the session ------------------------------------------------------------------------

fn before_handshake(ctx: &mut Ctx<'_>) -> Step<()> {
    let vector = if ctx.env.security == 1 {
        "vectors/esp-idf/bad_inputs_sec1.json step 1"
    } else {
        "vectors/esp-idf/bad_inputs_sec2.json step 1"
    };
    let cite = format!("spec §3.1, §7.1 'Data endpoint before handshake completed'; {vector}");
    let probes: [(&str, Vec<u8>, &str); 3] = [
        (
            "prov-config",
            messages::get_status(),
            "plaintext GetStatus before any handshake",
        ),
        (
            "prov-scan",
            messages::scan_status(),
            "plaintext ScanStatus before any handshake",
        ),
        (
            "prov-ctrl",
            messages::ctrl_reset(),
            "plaintext CtrlReset before any handshake",
        ),
    ];
    for (ep, body, note) in &probes {
        refuse(ctx, ep, body, note, &cite)?;
    }
    // An 18-byte body looks like a Security 2 message (2 bytes + tag), and is 18 bytes of CTR for Sec1.
    refuse(
        ctx,
        "prov-config",
        &[0x5a; 18],
        "18 bytes of would-be ciphertext before any handshake",
        &cite,
    )?;
    if !can_session(ctx) {
        return Ok(());
    }
    let (mut hs, r0) = pending(ctx)?;
    refuse(
        ctx,
        "prov-config",
        &messages::get_status(),
        "plaintext GetStatus between Command0 and Command1",
        "the session is in state CMD1, not established (spec §3.1; vectors/esp-idf/sec1_wrong_pop.json step 4)",
    )?;
    let c1 = command1(&mut hs, &r0)?;
    let mut cipher = finish_with(ctx, &mut hs, &c1, "Command1", |e| format!("Response1: {e}"))?;
    status_ok(
        ctx,
        &mut cipher,
        "GetStatus once the handshake is complete",
        "the refused requests do not disturb the handshake (spec §3.1)",
    )
}

fn sec0_no_handshake(ctx: &mut Ctx<'_>) -> Step<()> {
    let cite = "Security 0 needs no handshake (spec §1.2, §3.2; vectors/esp-idf/bad_inputs_sec0.json step 1)";
    let mut plain = Cipher::Plain;
    status_ok(
        ctx,
        &mut plain,
        "GetStatus with no prov-session exchange",
        cite,
    )?;
    let Some(p) = raw(
        ctx,
        "prov-scan",
        &messages::scan_status(),
        "ScanStatus with no prov-session exchange",
    )?
    else {
        return Err(Stop::Fail(format!(
            "ScanStatus with no prov-session exchange: no response, expected RespScanStatus ({cite})"
        )));
    };
    messages::decode_resp_scan_status(&p).map_err(|e| {
        Stop::Fail(format!(
            "ScanStatus with no prov-session exchange: {e} ({cite})"
        ))
    })?;
    ctx.rec.new_session()?;
    status_ok(
        ctx,
        &mut plain,
        "GetStatus on another transport session, still without handshake",
        "Security 0 tracks no session at all (spec §3.1)",
    )
}

fn plaintext_in_session(ctx: &mut Ctx<'_>) -> Step<()> {
    let mut cipher = in_session(ctx)?;
    let body = long_plaintext();
    refuse(
        ctx,
        "prov-config",
        &body,
        "plaintext SetConfig (101 bytes) in the established session",
        "data endpoints decrypt every request (spec §1.2; §7.2 test_protocomm 'no encryption')",
    )?;
    let after = if ctx.env.security == 1 {
        // The device decrypted the 101 bytes into garbage, consuming its keystream.
        ctr(&mut cipher)?.skip(body.len() as u64);
        "Security 1: the rejected request consumed 101 keystream bytes (spec §3.3 'Consequences')"
    } else {
        "Security 2: the failed authentication left the counter alone (spec §3.4.4)"
    };
    status_ok(
        ctx,
        &mut cipher,
        "GetStatus after the rejected plaintext",
        after,
    )
}

fn other_session_id(ctx: &mut Ctx<'_>) -> Step<()> {
    let mut cipher = in_session(ctx)?;
    ctx.rec.new_session()?;
    let vector = if ctx.env.security == 1 {
        "vectors/esp-idf/bad_inputs_sec1.json step 38"
    } else {
        "spec §3.1"
    };
    refuse_with(
        ctx,
        &mut cipher,
        "prov-config",
        &messages::get_status(),
        "GetStatus encrypted with the established keys, on a new transport session",
        &format!(
            "spec §3.1, §7.1 'Data endpoint with a session id other than the open one'; {vector}"
        ),
    )?;
    refuse(
        ctx,
        "prov-config",
        &messages::get_status(),
        "plaintext GetStatus on the new transport session",
        "the new session is not established (spec §3.1, §7.1)",
    )
}

fn empty_payload(ctx: &mut Ctx<'_>) -> Step<()> {
    let mut cipher = in_session(ctx)?;
    let (body, note, cite) = if ctx.env.security == 1 {
        (
            Vec::new(),
            "an empty request body to prov-config".to_string(),
            "a chip's malloc(0) is NULL → ESP_ERR_NO_MEM (spec §7.1 'Empty encrypted payload'; \
             vectors/esp-idf/sec1_full_flow.json step 13, custom_data_echo.json step 6)",
        )
    } else {
        let g = gcm(&mut cipher)?;
        let c = g.counter().unwrap_or_default();
        (
            g.encrypt_with_counter(&[], c).unwrap_or_default(),
            format!("a 16-byte tag-only request (empty plaintext, counter {c}) to prov-config"),
            "a chip's malloc(0) is NULL → ESP_ERR_NO_MEM (spec §3.4.4, §7.1 'Empty encrypted payload'; \
             the Security 1 equivalent is vectors/esp-idf/custom_data_echo.json step 6)",
        )
    };
    refuse(ctx, "prov-config", &body, &note, cite)?;
    status_ok(
        ctx,
        &mut cipher,
        "GetStatus after the empty payload",
        "the empty payload must not move the keystream or the counter (spec §7.1)",
    )
}
