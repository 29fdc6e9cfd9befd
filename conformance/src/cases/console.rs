//! The console line protocol (spec §4.3.1): echo, prompt, reply framing, and its 256-byte line limit.

use crate::case::Group::Console as G;
use crate::link::Access;
use std::time::Duration;

use crate::case::{only_sec, session_possible, Case, Ctx, Env, Step, Stop};
use crate::ensure;
use prov_client::Profile;
use prov_client::Sec2Client;

/// The console cases.
pub fn cases() -> Vec<Case> {
    vec![
        G.case(
            "CONSOLE-ECHO-REPLY-PROMPT",
            "a request line is echoed, answered by one lowercase hex line, then the prompt",
            line,
            echo_reply,
        ),
        G.case(
            "CONSOLE-TOO-FEW-ARGS",
            "a line with fewer than 3 arguments prints nothing but the next prompt",
            line,
            too_few,
        ),
        G.case(
            "CONSOLE-UPPERCASE-HEX",
            "the payload may be written in uppercase hex",
            line,
            uppercase,
        ),
        G.case(
            "CONSOLE-SEC2-LINE-LIMIT",
            "Security 2 Command0 (768 hex digits) does not fit the 256-byte line: no response",
            |e| {
                line(e).or_else(|| only_sec(e, 2)).or_else(|| {
                    session_possible(e).is_none().then(|| {
                        "the device file says this console takes Security 2's lines ([console] line_max)"
                            .into()
                    })
                })
            },
            line_limit,
        ),
    ]
}

fn line(env: &Env<'_>) -> Option<String> {
    if !env.transport.is_line_protocol() {
        return Some("console and serial transports only".into());
    }
    (env.profile == Profile::Zephyr)
        .then(|| "the Zephyr shell frames lines its own way (spec §4.3.2)".into())
}

/// Sends raw bytes on the line link and returns what the device printed.
fn raw(ctx: &mut Ctx<'_>, bytes: &[u8], note: &str) -> Step<String> {
    let link = match ctx.rec.link().access() {
        Access::Line(l) => l,
        _ => return Err(Stop::Skip("not a line-protocol link".into())),
    };
    let out = link.raw(bytes, Duration::from_millis(100))?;
    ctx.rec
        .record("LINE", bytes, crate::model::Answer::Data(out.clone()), note);
    Ok(without_logs(&String::from_utf8_lossy(&out)))
}

/// `out` without the ESP-IDF log lines a chip prints on the UART the console shares: whole lines (and
/// their tab-continued lines) at a line start or right after the prompt, where another task's output
/// lands between the console's lines.
fn without_logs(out: &str) -> String {
    let mut kept = String::new();
    let mut rest = out;
    let mut line_start = true;
    while let Some(c) = rest.chars().next() {
        if line_start {
            if let Some(end) = rest.find('\n') {
                if crate::dut::line::is_log_line(rest[..end].trim_end()) {
                    rest = &rest[end + 1..];
                    while rest.starts_with('\t') {
                        rest = rest.find('\n').map_or("", |e| &rest[e + 1..]);
                    }
                    continue;
                }
            }
        }
        kept.push(c);
        rest = &rest[c.len_utf8()..];
        line_start = c == '\n' || kept.ends_with(">> ");
    }
    kept
}

fn echo_reply(ctx: &mut Ctx<'_>) -> Step<()> {
    let out = raw(ctx, b"proto-ver 0 2d2d2d\r", "proto-ver request line")?;
    ensure!(
        out.starts_with("proto-ver 0 2d2d2d\r\n"),
        "the line is not echoed with CR as CRLF: {out:?}"
    );
    let rest = &out["proto-ver 0 2d2d2d\r\n".len()..];
    let reply = rest
        .strip_prefix("\r\n")
        .and_then(|r| r.split_once("\r\n"))
        .map(|(hex, tail)| (hex.to_owned(), tail.to_owned()));
    let Some((hex, tail)) = reply else {
        return Err(Stop::Fail(format!(
            "after the echo expected `\\r\\n<hex>\\r\\n`, got {rest:?} (spec §4.3.1)"
        )));
    };
    ensure!(
        !hex.is_empty()
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "reply {hex:?} is not lowercase hex"
    );
    ensure!(
        tail == "\n>> ",
        "after the reply expected the prompt `\\n>> `, got {tail:?}"
    );
    Ok(())
}

fn too_few(ctx: &mut Ctx<'_>) -> Step<()> {
    let out = raw(ctx, b"proto-ver 0\r", "two arguments")?;
    ensure!(
        out == "proto-ver 0\r\n\n>> ",
        "expected only the echo and the next prompt, got {out:?} (spec §4.3.1: fewer than 3 arguments is an error, nothing printed)"
    );
    Ok(())
}

fn uppercase(ctx: &mut Ctx<'_>) -> Step<()> {
    let lower = ctx.expect_data("proto-ver", b"\xab\xcd", "lowercase payload")?;
    let out = raw(ctx, b"proto-ver 0 ABCD\r", "uppercase payload")?;
    ensure!(
        out.contains(&hex::encode(&lower)),
        "an uppercase-hex request was not answered like the lowercase one: {out:?}"
    );
    Ok(())
}

fn line_limit(ctx: &mut Ctx<'_>) -> Step<()> {
    let d = ctx.env.desc;
    let user = d.username.clone().unwrap_or_default();
    let pass = d.password.clone().unwrap_or_default();
    let c0 = Sec2Client::from_rng(user.into_bytes(), pass.into_bytes(), &mut ctx.rng).command0();
    ctx.expect_none(
        "prov-session",
        &c0,
        "Security 2 Command0 over the console (a line of about 800 characters)",
    )?;
    // The rest of the line runs as another (failing) command; let it finish, then the device must
    // still answer.
    ctx.wait(300, "the tail of the long line is echoed and rejected")?;
    ctx.version().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::without_logs;

    #[test]
    fn log_lines_between_console_lines_are_set_aside() {
        assert_eq!(
            without_logs("\n>> I (3603) app: Secured session established!\r\n"),
            "\n>> "
        );
        assert_eq!(
            without_logs("proto-ver 0 2d\r\nI (1) app: Received Wi-Fi credentials\r\n\tSSID : x\r\n\r\nab\r\n\n>> "),
            "proto-ver 0 2d\r\n\r\nab\r\n\n>> "
        );
        // Not at a line start, or not a log line: kept.
        assert_eq!(
            without_logs("prov-config 0 I (1) x\r\n"),
            "prov-config 0 I (1) x\r\n"
        );
        assert_eq!(without_logs("\r\nabcd\r\n"), "\r\nabcd\r\n");
    }
}
