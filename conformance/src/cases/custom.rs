//! Application ("custom") endpoints: ordinary encrypted data endpoints (spec §1.2, §6.6, §7.1). The
//! device file lists the ones that echo their input; `custom_data_echo.json` is the reference.

use crate::case::Group::Custom as G;
use crate::case::{secure, session_possible, short_hex, Case, Ctx, Env, Step, Stop};
use crate::ensure;
use crate::link::Transport;
use crate::link::{Access, RawResponse};
use crate::model::Answer;
use crate::steps::config::status_raw;
use prov_client::Cipher;
use prov_client::Profile;

/// An endpoint name no device registers.
const NO_SUCH_ENDPOINT: &str = "provlab-no-such-endpoint";

/// The custom-endpoint cases.
pub fn cases() -> Vec<Case> {
    vec![
        G.case("CUSTOM-ECHO", "each custom endpoint echoes its input through the session's encryption", with_endpoints, echo),
        G.case("CUSTOM-LARGE", "each custom endpoint echoes a large payload (4000 bytes over HTTP, 100 over the console's 256-byte lines)", with_endpoints, large),
        G.case("CUSTOM-EMPTY", "an empty payload to a custom endpoint gets no response (ESP-IDF heap: malloc(0) is NULL) and the session goes on", |e| with_endpoints(e).or_else(|| crate::case::empty_body_judged(e)), empty),
        G.case("CUSTOM-BEFORE-HANDSHAKE", "a custom endpoint before the handshake gets no response (Security 1/2); after the handshake it works", secure_with_endpoints, before_handshake),
        G.case("CUSTOM-UNKNOWN-ENDPOINT", "an endpoint that does not exist: HTTP 404 / no console reply; the session goes on", session_possible, unknown_endpoint),
    ]
}

fn with_endpoints(env: &Env<'_>) -> Option<String> {
    session_possible(env).or_else(|| {
        env.desc
            .custom_endpoints
            .is_empty()
            .then(|| "the device file lists no custom_endpoints".into())
    })
}

fn secure_with_endpoints(env: &Env<'_>) -> Option<String> {
    secure(env).or_else(|| with_endpoints(env))
}

/// Sends `payload` to `ep` in the session and requires it back.
fn expect_echo(ctx: &mut Ctx<'_>, ep: &str, payload: &[u8], what: &str) -> Step<()> {
    let note = format!("{ep}: {what} ({} bytes)", payload.len());
    let Some(got) = ctx.call_maybe(ep, payload, &note)? else {
        return Err(Stop::Fail(format!(
            "{note}: no response, expected the same bytes back (the device file says {ep:?} echoes; spec §6.6; vectors/esp-idf/custom_data_echo.json steps 3–5)"
        )));
    };
    ensure!(
        got == payload,
        "{note}: decrypted answer {}, expected the request back {} (spec §6.6: custom endpoints use the session encryption both ways)",
        short_hex(&got),
        short_hex(payload)
    );
    Ok(())
}

fn echo(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let x = vec![b'x'; 100];
    let payloads: [(&[u8], &str); 4] = [
        (b"ping", "short text"),
        (&x, "100 x"),
        (br#"{"json":"payload","n":1}"#, "JSON"),
        (&[0u8, 1, 2, 0xff, 0x80, 0], "binary with NUL bytes"),
    ];
    for ep in ctx.env.desc.custom_endpoints.clone() {
        for (p, what) in payloads {
            expect_echo(ctx, &ep, p, what)?;
        }
    }
    Ok(())
}

fn large(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    // HTTP bodies are limited to 4096 bytes (spec §4.1; Security 2 adds a 16-byte tag); a console
    // line to 256 bytes, hex encoded (spec §4.3.1).
    let len = if ctx.env.transport == Transport::Http {
        4000
    } else {
        100
    };
    let payload: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
    for ep in ctx.env.desc.custom_endpoints.clone() {
        expect_echo(ctx, &ep, &payload, "large payload")?;
    }
    Ok(())
}

fn empty(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    for ep in ctx.env.desc.custom_endpoints.clone() {
        let note = format!("{ep}: empty payload");
        match ctx.call_maybe(&ep, &[], &note)? {
            None => {
                // The device drops a Security 2 tag-only message without advancing its counter
                // (spec §7.1 "Empty encrypted payload"); the client advanced its own on encrypting.
                if let Cipher::Gcm(g) = ctx.cipher()? {
                    if let Some(c) = g.counter() {
                        g.set_counter(c.wrapping_sub(1));
                    }
                }
            }
            Some(p) if ctx.env.profile == Profile::Zephyr => ensure!(
                p.is_empty(),
                "{note}: answered {}, expected no response or an empty answer (Zephyr, spec §8.1)",
                short_hex(&p)
            ),
            Some(p) => {
                return Err(Stop::Fail(format!(
                    "{note}: answered {} bytes ({}), expected no response: on a chip the empty decrypt/output buffer is malloc(0) = NULL → ESP_ERR_NO_MEM (spec §7.1 \"Empty encrypted payload\"; vectors/esp-idf/custom_data_echo.json step 6)",
                    p.len(),
                    short_hex(&p)
                )))
            }
        }
        expect_echo(ctx, &ep, b"ping", "after the empty payload")?;
    }
    Ok(())
}

fn before_handshake(ctx: &mut Ctx<'_>) -> Step<()> {
    for ep in ctx.env.desc.custom_endpoints.clone() {
        let note = format!("{ep} before any handshake");
        if let Answer::Data(d) = ctx.send(&ep, b"ping", &note)? {
            return Err(Stop::Fail(format!(
                "{note}: answered {} bytes ({}), expected no response: data endpoints need an established session (spec §7.1 \"Data endpoint before handshake completed\")",
                d.len(),
                short_hex(&d)
            )));
        }
    }
    ctx.handshake()?;
    for ep in ctx.env.desc.custom_endpoints.clone() {
        expect_echo(ctx, &ep, b"ping", "after the handshake")?;
    }
    Ok(())
}

fn unknown_endpoint(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let note = "POST to an endpoint that does not exist";
    // The body never reaches protocomm, so it is not encrypted (the session cipher stays in step).
    let body = b"ping";
    let http = match ctx.rec.link().access() {
        Access::Http(h) => Some(h),
        _ => None,
    }
    .map(|h| {
        let req = h.post_bytes(NO_SUCH_ENDPOINT, body);
        let resp = h.raw(&req);
        // ESP-IDF's HTTP server closes the connection after an error status (spec §4.1); do not race
        // it by reusing the socket. The cookie is kept, so the session can go on.
        if !matches!(&resp, Ok(r) if r.status == Some(200)) {
            h.drop_connection();
        }
        resp
    });
    match http {
        Some(resp) => {
            let resp: RawResponse = resp?;
            let answer = match resp.status {
                Some(200) => Answer::Data(resp.body.clone()),
                Some(code) => Answer::NoResponse(format!(
                    "HTTP {code} {:?}",
                    String::from_utf8_lossy(&resp.body)
                )),
                None => Answer::NoResponse("connection closed without a response".into()),
            };
            ctx.rec.record(NO_SUCH_ENDPOINT, body, answer, note);
            let ok = match ctx.env.profile {
                Profile::Zephyr => resp.status.is_some_and(|c| c != 200),
                _ => resp.status == Some(404),
            };
            ensure!(
                ok,
                "POST /{NO_SUCH_ENDPOINT}: {}, expected HTTP 404 Not Found from the HTTP server, before protocomm (spec §4.1, §7.1 \"endpoint name that does not exist\")",
                match resp.status {
                    Some(c) => format!("HTTP {c}"),
                    None => "connection closed without a response".into(),
                }
            );
        }
        None => ctx.expect_none(NO_SUCH_ENDPOINT, body, note)?,
    }
    // The session survives (over HTTP the cookie resumes it on a new connection, spec §4.1).
    status_raw(ctx, "GetStatus after the unknown endpoint")?;
    Ok(())
}
