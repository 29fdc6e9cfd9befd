//! The control channel: HTTP/JSON on hyper, for tests and app developers (never for provisioning clients).
//!
//! Every route maps to one [`ControlOp`] of the device task; `GET /` and the binary's `--help` list them.
//! Answers are JSON with `Content-Type: application/json`. Failures are `{"error": "..."}` with 400 (bad
//! input), 404 (unknown route or AP), 405 (wrong method, with `Allow`), 408 (body too slow), 413 (body over
//! [`MAX_BODY`]), 500 (the device could not do it) or 503 (the device task ended). Request data is never
//! trusted: nothing here panics on input.

use std::convert::Infallible;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::runtime::world::{Reason, WorldFile};
use crate::runtime::{ControlOp, DeviceHandle};

/// Largest accepted request body (a world file is a few kilobytes).
pub const MAX_BODY: usize = 1024 * 1024;
/// How long a client may take to send its headers, and then its body.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Route table for `GET /`: route and what it does.
const ROUTES: [(&str, &str); 10] = [
    ("GET /", "this index"),
    ("GET /state", "state summary"),
    (
        "GET /events?since=N",
        "event records with seq > N (default 0)",
    ),
    ("POST /reboot", "power cycle, credentials kept"),
    ("POST /factory-reset", "erase credentials, then reboot"),
    ("GET /world", "the radio environment (world file as JSON)"),
    ("PUT /world", "replace the world (JSON body)"),
    ("POST /ap/<ssid>/down", "take APs off the air"),
    ("POST /ap/<ssid>/up", "bring them back"),
    ("POST /fail-next-connect?reason=R", "next connect fails"),
];

type Reply = Response<Full<Bytes>>;

/// Serve the control API on `listener` until the process ends (one task per connection).
pub async fn serve(handle: DeviceHandle, listener: TcpListener) -> std::io::Result<()> {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and similar: back off instead of spinning or giving up.
                tracing::warn!(error = %e, "control channel: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let handle = handle.clone();
                async move { Ok::<_, Infallible>(route(&handle, req).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(CLIENT_TIMEOUT)
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "control connection ended with an error");
            }
        });
    }
}

async fn route(handle: &DeviceHandle, req: Request<Incoming>) -> Reply {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let reply = dispatch(handle, &method, &path, &query, req).await;
    tracing::debug!(%method, %path, status = reply.status().as_u16(), "control request");
    reply
}

async fn dispatch(
    handle: &DeviceHandle,
    method: &Method,
    path: &str,
    query: &str,
    req: Request<Incoming>,
) -> Reply {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let allowed = match segments.as_slice() {
        [""] => "GET",
        ["state" | "events"] => "GET",
        ["reboot" | "factory-reset" | "fail-next-connect"] => "POST",
        ["world"] => "GET, PUT",
        ["ap", _, "down" | "up"] => "POST",
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                format!("no route {path}; GET / lists the routes"),
            )
        }
    };
    let op = match (method, segments.as_slice()) {
        (&Method::GET, [""]) => return index(),
        (&Method::GET, ["state"]) => params(query, &[]).map(|_| ControlOp::State),
        (&Method::GET, ["events"]) => events_op(query),
        (&Method::POST, ["reboot"]) => params(query, &[]).map(|_| ControlOp::Reboot),
        (&Method::POST, ["factory-reset"]) => params(query, &[]).map(|_| ControlOp::FactoryReset),
        (&Method::GET, ["world"]) => params(query, &[]).map(|_| ControlOp::GetWorld),
        (&Method::PUT, ["world"]) => match read_body(req).await {
            Ok(body) => world_op(&body),
            Err(reply) => return reply,
        },
        (&Method::POST, ["ap", ssid, dir]) => percent_decode(ssid).map(|ssid| match *dir {
            "down" => ControlOp::ApDown(ssid),
            _ => ControlOp::ApUp(ssid),
        }),
        (&Method::POST, ["fail-next-connect"]) => fail_op(query),
        _ => {
            let mut reply = error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} is not allowed on {path} (use {allowed})"),
            );
            reply
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allowed));
            return reply;
        }
    };
    let op = match op {
        Ok(op) => op,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    let not_found = matches!(op, ControlOp::ApDown(_) | ControlOp::ApUp(_));
    let invalid = matches!(op, ControlOp::SetWorld(_));
    match handle.control(op).await {
        Ok(value) => respond(StatusCode::OK, &value),
        Err(msg) if msg == "device task ended" => error(StatusCode::SERVICE_UNAVAILABLE, msg),
        Err(msg) if not_found => error(StatusCode::NOT_FOUND, msg),
        Err(msg) if invalid => error(StatusCode::BAD_REQUEST, format!("invalid world: {msg}")),
        Err(msg) => error(StatusCode::INTERNAL_SERVER_ERROR, msg),
    }
}

fn index() -> Reply {
    let routes: serde_json::Map<String, Value> = ROUTES
        .iter()
        .map(|(route, what)| ((*route).to_owned(), json!(what)))
        .collect();
    respond(
        StatusCode::OK,
        &json!({"service": "sim-device control channel", "routes": routes}),
    )
}

fn events_op(query: &str) -> Result<ControlOp, String> {
    let since = match params(query, &["since"])?.into_iter().next() {
        Some((_, v)) => v
            .parse()
            .map_err(|_| format!("since must be a non-negative integer, got {v:?}"))?,
        None => 0,
    };
    Ok(ControlOp::Events { since })
}

fn fail_op(query: &str) -> Result<ControlOp, String> {
    let reason = match params(query, &["reason"])?.into_iter().next() {
        Some((_, v)) => match v.parse::<u16>() {
            Ok(code) => Reason::Code(code),
            Err(_) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(format!("reason code {v} is out of range (0 to 65535)"));
            }
            Err(_) => Reason::Name(v),
        },
        None => Reason::Name("auth-fail".into()),
    };
    reason.resolve().map(ControlOp::FailNextConnect)
}

fn world_op(body: &[u8]) -> Result<ControlOp, String> {
    let file: WorldFile = serde_json::from_slice(body)
        .map_err(|e| format!("body is not a world (JSON, world file shape): {e}"))?;
    // Validate here too, so the error names the problem before the device sees anything.
    file.to_world().map_err(|e| format!("invalid world: {e}"))?;
    Ok(ControlOp::SetWorld(Box::new(file)))
}

/// The query's `name=value` pairs (percent-decoded); a name outside `known` or given twice is an error.
fn params(query: &str, known: &[&str]) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name)?;
        let value = percent_decode(&value.replace('+', " "))?;
        if !known.contains(&name.as_str()) {
            return Err(match known {
                [] => format!("unexpected query parameter {name:?} (this route takes none)"),
                _ => format!(
                    "unknown query parameter {name:?} (expected {})",
                    known.join(", ")
                ),
            });
        }
        if out.iter().any(|(n, _)| *n == name) {
            return Err(format!("query parameter {name:?} given twice"));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// `%XX` escapes to bytes; the result must be UTF-8.
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
            out.push(byte.ok_or_else(|| format!("bad percent escape in {text:?}"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} does not decode to UTF-8"))
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, Reply> {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {MAX_BODY} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let body = Limited::new(req.into_body(), MAX_BODY).collect();
    match tokio::time::timeout(CLIENT_TIMEOUT, body).await {
        Err(_) => Err(error(StatusCode::REQUEST_TIMEOUT, "request body too slow")),
        Ok(Ok(body)) => Ok(body.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("cannot read the request body: {e}"),
        )),
    }
}

fn error(status: StatusCode, msg: impl Into<String>) -> Reply {
    respond(status, &json!({ "error": msg.into() }))
}

fn respond(status: StatusCode, value: &Value) -> Reply {
    let mut body = value.to_string();
    body.push('\n');
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    reply
}
