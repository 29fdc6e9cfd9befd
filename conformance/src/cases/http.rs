//! SoftAP HTTP transport semantics (spec §4.1): the session cookie, socket fallback, and how errors and
//! malformed requests look on the wire.

use crate::case::Group::Http as G;
use crate::case::{secure, session_possible, Case, Ctx, Env, Step, Stop};
use crate::ensure;
use crate::link::Transport;
use crate::link::{Access, HttpAccess, RawResponse};
use crate::model::Answer;
use prov_client::messages;
use prov_client::Profile;

/// The HTTP cases.
pub fn cases() -> Vec<Case> {
    vec![
        G.case("HTTP-SET-COOKIE-NEW-SESSION", "a new client's first response carries `Set-Cookie: session=<uint32>`, 200 OK, text/html", http, set_cookie),
        G.case("HTTP-SET-COOKIE-ONCE", "a request that continues the session has no Set-Cookie (ESP-IDF) / has it again (Zephyr)", http, set_cookie_once),
        G.case("HTTP-COOKIE-RESUMES-SESSION", "the cookie carries the secure session to a new TCP connection", http_session, cookie_resume),
        G.case("HTTP-SOCKET-FALLBACK", "without a cookie, one TCP connection keeps the session (ESP-IDF); Zephyr: cookie only", http_session, socket_fallback),
        G.case("HTTP-WRONG-COOKIE-NEW-SESSION", "a wrong cookie starts a new session: encrypted data then fails", http_session, wrong_cookie),
        G.case("HTTP-ERROR-NO-RESPONSE", "a protocomm error closes the connection without a response (ESP-IDF) / HTTP 500 (Zephyr)", http, error_closes),
        G.case("HTTP-404-UNKNOWN-URI", "POST to an unregistered URI: 404 `Nothing matches the given URI`", http, not_found),
        G.case("HTTP-405-GET", "GET on an endpoint URI: 405 Method Not Allowed", http, method),
        G.case("HTTP-BODY-OVER-4096", "Content-Length 4097 closes the connection without a response", http, too_large),
    ]
}

fn http(env: &Env<'_>) -> Option<String> {
    (env.transport != Transport::Http).then(|| "HTTP transport only".into())
}

fn http_session(env: &Env<'_>) -> Option<String> {
    http(env)
        .or_else(|| secure(env))
        .or_else(|| session_possible(env))
}

fn zephyr(ctx: &Ctx<'_>) -> bool {
    ctx.env.profile == Profile::Zephyr
}

/// Sends raw bytes on the HTTP link, recording them.
fn raw(ctx: &mut Ctx<'_>, bytes: &[u8], note: &str) -> Step<RawResponse> {
    let resp = http_link(ctx)?.raw(bytes)?;
    let answer = match resp.status {
        Some(200) => Answer::Data(resp.body.clone()),
        Some(code) => Answer::NoResponse(format!(
            "HTTP {code}: {:?}",
            String::from_utf8_lossy(&resp.body)
        )),
        None => Answer::NoResponse("connection closed without a response".into()),
    };
    ctx.rec.record("HTTP", bytes, answer, note);
    Ok(resp)
}

fn http_link<'c>(ctx: &'c mut Ctx<'_>) -> Step<&'c mut dyn HttpAccess> {
    match ctx.rec.link().access() {
        Access::Http(h) => Ok(h),
        _ => Err(Stop::Skip("not an HTTP link".into())),
    }
}

fn post(ctx: &mut Ctx<'_>, endpoint: &str, body: &[u8], note: &str) -> Step<RawResponse> {
    let req = http_link(ctx)?.post_bytes(endpoint, body);
    raw(ctx, &req, note)
}

fn set_cookie(ctx: &mut Ctx<'_>) -> Step<()> {
    let r = post(ctx, "proto-ver", b"---", "first request of a new client")?;
    ensure!(r.status == Some(200), "status {:?}, expected 200", r.status);
    let cookie = r.header("set-cookie").unwrap_or_default().to_owned();
    let id = cookie.strip_prefix("session=").unwrap_or_default();
    ensure!(
        !id.is_empty() && id.parse::<u32>().is_ok() && id.bytes().all(|b| b.is_ascii_digit()),
        "Set-Cookie {cookie:?}, expected `session=<decimal uint32>` with no attributes (spec §4.1)"
    );
    if !zephyr(ctx) {
        ensure!(
            r.header("content-type") == Some("text/html"),
            "Content-Type {:?}, expected text/html (esp_http_server default)",
            r.header("content-type")
        );
    }
    Ok(())
}

fn set_cookie_once(ctx: &mut Ctx<'_>) -> Step<()> {
    let first = post(ctx, "proto-ver", b"---", "new client")?;
    let cookie = first
        .header("set-cookie")
        .ok_or_else(|| Stop::Fail("no Set-Cookie on the first response".into()))?
        .to_owned();
    http_link(ctx)?.set_cookie(Some(cookie));
    let again = post(ctx, "proto-ver", b"---", "same client, with its cookie")?;
    let has = again.header("set-cookie").is_some();
    if zephyr(ctx) {
        ensure!(has, "Zephyr sets the cookie on every response (spec §8.1)");
    } else {
        ensure!(
            !has,
            "Set-Cookie {:?} on a request that continues the session: ESP-IDF sends it only for a new session (spec §4.1)",
            again.header("set-cookie")
        );
    }
    Ok(())
}

fn cookie_resume(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    ensure!(
        http_link(ctx)?.cookie().is_some(),
        "no Set-Cookie during the handshake"
    );
    http_link(ctx)?.drop_connection();
    ctx.rec
        .note("closed the TCP connection; the next request opens a new one with the cookie");
    ctx.status()
        .map_err(|e| match e {
            Stop::Fail(why) => Stop::Fail(format!(
                "the session did not survive a new TCP connection with its cookie (spec §4.1 step 5): {why}"
            )),
            other => other,
        })
        .map(|_| ())
}

fn socket_fallback(ctx: &mut Ctx<'_>) -> Step<()> {
    // A cookie-less client: forget the cookie before every request, keep the one TCP connection.
    let mut hs = ctx.client(None)?;
    let r0 = ctx.expect_data("prov-session", &hs.command0(), "Command0 without cookie")?;
    http_link(ctx)?.set_cookie(None);
    let c1 = hs.command1(&r0)?.unwrap_or_default();
    let answer = ctx.send(
        "prov-session",
        &c1,
        "Command1 without cookie, same connection",
    )?;
    match (zephyr(ctx), answer) {
        (false, Answer::Data(r1)) => {
            let cipher = hs.finish(&r1, ctx.sec_patch_ver())?;
            ctx.set_cipher(cipher);
            http_link(ctx)?.set_cookie(None);
            ctx.status().map(|_| ())
        }
        (false, Answer::NoResponse(how)) => Err(Stop::Fail(format!(
            "Command1 on the same connection without a cookie failed ({how}): ESP-IDF falls back to the socket (spec §4.1 step 2)"
        ))),
        (true, Answer::NoResponse(_)) => Ok(()),
        (true, Answer::Data(_)) => Err(Stop::Fail(
            "Zephyr keys sessions by cookie only: without one every request is a new session (spec §8.1)".into(),
        )),
    }
}

fn wrong_cookie(ctx: &mut Ctx<'_>) -> Step<()> {
    ctx.handshake()?;
    let good = http_link(ctx)?
        .cookie()
        .map(str::to_owned)
        .unwrap_or_default();
    let wrong = if good == "session=1" {
        "session=2"
    } else {
        "session=1"
    };
    http_link(ctx)?.set_cookie(Some(wrong.into()));
    let plain = messages::get_status();
    let wire = ctx.cipher()?.encrypt(&plain);
    match ctx.rec.request("prov-config", &wire, Some(&plain), "GetStatus with a wrong cookie")? {
        Answer::NoResponse(_) => Ok(()),
        Answer::Data(_) => Err(Stop::Fail(format!(
            "a request with cookie {wrong:?} (the session's is {good:?}) was answered in the session: the cookie must match exactly (spec §4.1 step 1)"
        ))),
    }
}

fn error_closes(ctx: &mut Ctx<'_>) -> Step<()> {
    let r = post(
        ctx,
        "prov-session",
        &[0xff, 0xff, 0xff],
        "undecodable SessionData",
    )?;
    if zephyr(ctx) {
        ensure!(
            r.status == Some(500),
            "status {:?}, Zephyr answers 500 (spec §8.1)",
            r.status
        );
    } else {
        ensure!(
            r.status.is_none() && r.closed,
            "got HTTP {:?}; ESP-IDF closes the connection without any response (spec §4.1)",
            r.status
        );
    }
    Ok(())
}

fn not_found(ctx: &mut Ctx<'_>) -> Step<()> {
    let r = post(ctx, "no-such-endpoint", b"\x08\x00", "unregistered URI")?;
    ensure!(r.status == Some(404), "status {:?}, expected 404", r.status);
    if !zephyr(ctx) {
        ensure!(
            r.body == b"Nothing matches the given URI",
            "404 body {:?}, expected esp_http_server's `Nothing matches the given URI`",
            String::from_utf8_lossy(&r.body)
        );
    }
    Ok(())
}

fn method(ctx: &mut Ctx<'_>) -> Step<()> {
    let host = "device";
    let req = format!("GET /proto-ver HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let r = raw(ctx, req.as_bytes(), "GET on a POST-only URI")?;
    ensure!(r.status == Some(405), "status {:?}, expected 405", r.status);
    Ok(())
}

fn too_large(ctx: &mut Ctx<'_>) -> Step<()> {
    let body = vec![0x08u8; 4097];
    let r = post(ctx, "proto-ver", &body, "4097-byte body")?;
    if zephyr(ctx) {
        ensure!(r.status != Some(200), "a 4097-byte body was accepted");
    } else {
        ensure!(
            r.status.is_none(),
            "got HTTP {:?}; a body over 4096 bytes closes the connection without a response (spec §4.1)",
            r.status
        );
    }
    Ok(())
}
