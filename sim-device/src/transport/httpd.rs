//! The part of ESP-IDF's `esp_http_server` that a client can observe (spec §4.1): how a request head is
//! read and limited, and the exact bytes of every response it writes.
//!
//! Parsing uses `httparse`, the hyper project's parser, under esp_http_server's rules: URI ≤ 512 bytes
//! (414), header section ≤ 1024 bytes (431), methods `http_parser` knows (else 400), HTTP/1.x (else 505),
//! and a request that stops arriving gets 408 after 5 s. hyper's server answers those cases with its own
//! bytes (empty 431/414/400 bodies, silent close on a header timeout), which is why it is not used here.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

/// `CONFIG_HTTPD_MAX_URI_LEN`.
pub(crate) const MAX_URI_LEN: usize = 512;
/// `CONFIG_HTTPD_MAX_REQ_HDR_LEN` (ESP-IDF v5 default).
pub(crate) const MAX_REQ_HDR_LEN: usize = 1024;
/// `recv_wait_timeout` (5 s). Applied as one deadline per request part: ESP-IDF restarts it on every
/// `recv()`, which lets a client that trickles one byte every few seconds hold the server for an hour.
pub(crate) const RECV_TIMEOUT: Duration = Duration::from_secs(5);
/// The cookie buffer of `protocomm_httpd` (a value of 20 bytes or more does not fit and is ignored).
const COOKIE_BUF: usize = 20;

/// Methods `http_parser` knows; any other token is a parse error.
const METHODS: [&str; 34] = [
    "DELETE",
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "CONNECT",
    "OPTIONS",
    "TRACE",
    "COPY",
    "LOCK",
    "MKCOL",
    "MOVE",
    "PROPFIND",
    "PROPPATCH",
    "SEARCH",
    "UNLOCK",
    "BIND",
    "REBIND",
    "UNBIND",
    "ACL",
    "REPORT",
    "MKACTIVITY",
    "CHECKOUT",
    "MERGE",
    "M-SEARCH",
    "NOTIFY",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "PATCH",
    "PURGE",
    "MKCALENDAR",
    "LINK",
    "UNLINK",
    "SOURCE",
];

/// An error esp_http_server answers itself, then closes the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HttpdError {
    /// Malformed request line or headers.
    BadRequest,
    /// No handler for the URI.
    NotFound,
    /// A handler for the URI, but not for this method.
    MethodNotAllowed,
    /// The request stopped arriving.
    Timeout,
    /// URI longer than [`MAX_URI_LEN`].
    UriTooLong,
    /// Header section longer than [`MAX_REQ_HDR_LEN`].
    HeadersTooLarge,
    /// Not HTTP/1.x.
    VersionNotSupported,
}

impl HttpdError {
    fn status_and_message(self) -> (&'static str, &'static str) {
        match self {
            Self::BadRequest => ("400 Bad Request", "Bad request syntax"),
            Self::NotFound => ("404 Not Found", "Nothing matches the given URI"),
            Self::MethodNotAllowed => (
                "405 Method Not Allowed",
                "Specified method is invalid for this resource",
            ),
            Self::Timeout => ("408 Request Timeout", "Server closed this connection"),
            Self::UriTooLong => ("414 URI Too Long", "URI is too long"),
            Self::HeadersTooLarge => (
                "431 Request Header Fields Too Large",
                "Header fields are too long",
            ),
            Self::VersionNotSupported => (
                "505 Version Not Supported",
                "HTTP version not supported by server",
            ),
        }
    }

    /// `httpd_resp_send_err()`: status, `text/html`, the fixed message.
    pub(crate) fn response(self) -> Vec<u8> {
        let (status, msg) = self.status_and_message();
        respond(status, None, msg.as_bytes())
    }
}

/// `httpd_resp_send()` with status 200, and the `Set-Cookie` header `protocomm_httpd` adds for a new session.
pub(crate) fn ok_response(body: &[u8], new_session: Option<u32>) -> Vec<u8> {
    respond("200 OK", new_session, body)
}

fn respond(status: &str, cookie: Option<u32>, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(id) = cookie {
        out.push_str(&format!("Set-Cookie: session={id}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// What `protocomm_httpd` reads from the `Cookie` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cookie {
    /// No header, or a value too long for the 20-byte buffer (both fall back to the socket).
    Unusable,
    /// The value, compared verbatim with `session=<id>`.
    Value(String),
}

/// A parsed request head.
#[derive(Clone, Debug)]
pub(crate) struct Head {
    /// Method token.
    pub(crate) method: String,
    /// Request target as sent (path and any query).
    pub(crate) uri: String,
    /// `Content-Length` (0 when absent or chunked, as `http_parser` reports it).
    pub(crate) content_len: usize,
    /// The session cookie as `protocomm_httpd` sees it.
    pub(crate) cookie: Cookie,
}

impl Head {
    /// The path used for handler lookup (the query string is not part of it).
    pub(crate) fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or("")
    }
}

/// How reading a head ended without a head.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Answer with this error, then close.
    Httpd(HttpdError),
    /// The peer closed or the socket failed: close without a response.
    Closed,
}

/// Read one request head. `buf` carries bytes already received beyond the previous request. `Ok(None)`:
/// the peer closed cleanly between requests. Waiting for the first byte has no limit (ESP-IDF only reads
/// a socket when it is readable); after it, the whole head must arrive within `timeout`
/// ([`RECV_TIMEOUT`] on a chip).
pub(crate) async fn read_head<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    timeout: Duration,
) -> Result<Option<Head>, ReadError> {
    let mut deadline = None;
    loop {
        if !buf.is_empty() {
            if let Some(head) = try_parse(buf)? {
                return Ok(Some(head));
            }
        }
        let mut chunk = [0u8; 1024];
        let n = match deadline {
            None => r.read(&mut chunk).await,
            Some(d) => match tokio::time::timeout_at(d, r.read(&mut chunk)).await {
                Ok(res) => res,
                Err(_) => return Err(ReadError::Httpd(HttpdError::Timeout)),
            },
        };
        match n {
            Ok(0) if buf.is_empty() => return Ok(None),
            Ok(0) | Err(_) => return Err(ReadError::Closed),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        deadline.get_or_insert_with(|| Instant::now() + timeout);
    }
}

/// Read exactly `len` body bytes (some may already be in `buf`) within `timeout`; `None` on a stall or
/// close: the handler fails and the connection closes without a response.
pub(crate) async fn read_body<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    len: usize,
    timeout: Duration,
) -> Option<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    while buf.len() < len {
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout_at(deadline, r.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return None,
        }
    }
    let rest = buf.split_off(len);
    Some(std::mem::replace(buf, rest))
}

/// A request head as [`parse_head`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedHead {
    /// Method token.
    pub method: String,
    /// Request target.
    pub uri: String,
    /// `Content-Length` as esp_http_server reads it.
    pub content_len: usize,
    /// The `Cookie` value protocomm_httpd compares, if it fits its buffer.
    pub cookie: Option<String>,
}

/// What [`try_parse`] makes of the front of `buf`, for fuzzing the parser without a socket: `Ok(None)`
/// needs more bytes, `Ok(Some(head))` a head (removed from `buf`), `Err` the status line esp_http_server
/// would answer with.
pub fn parse_head(buf: &mut Vec<u8>) -> Result<Option<ParsedHead>, &'static str> {
    match try_parse(buf) {
        Ok(head) => Ok(head.map(|h| ParsedHead {
            cookie: match h.cookie {
                Cookie::Value(v) => Some(v),
                Cookie::Unusable => None,
            },
            method: h.method,
            uri: h.uri,
            content_len: h.content_len,
        })),
        Err(ReadError::Httpd(e)) => Err(e.status_and_message().0),
        Err(ReadError::Closed) => Err("closed"),
    }
}

/// Parse a complete head from the front of `buf` (removing it), `Ok(None)` if more bytes are needed.
fn try_parse(buf: &mut Vec<u8>) -> Result<Option<Head>, ReadError> {
    let fail = |e| Err(ReadError::Httpd(e));
    let line_end = buf.iter().position(|b| *b == b'\n');
    let request_line = &buf[..line_end.unwrap_or(buf.len())];
    // URI length, counted while the request line is still arriving (esp_http_server's `cb_url`).
    let mut parts = request_line.splitn(3, |b| *b == b' ');
    let _method = parts.next();
    if let Some(uri) = parts.next() {
        if uri.len() > MAX_URI_LEN {
            return fail(HttpdError::UriTooLong);
        }
    } else if line_end.is_none() && request_line.len() > MAX_URI_LEN + 16 {
        // No space at all in a long first line: nothing an HTTP parser accepts.
        return fail(HttpdError::BadRequest);
    }
    let Some(line_end) = line_end else {
        return Ok(None);
    };
    let head_end = find_head_end(buf);
    let header_bytes = head_end.unwrap_or(buf.len()).saturating_sub(line_end + 1);
    if header_bytes > MAX_REQ_HDR_LEN {
        return fail(HttpdError::HeadersTooLarge);
    }
    let Some(head_end) = head_end else {
        return Ok(None);
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&buf[..head_end]) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return fail(HttpdError::BadRequest),
        Err(httparse::Error::Version) => return fail(HttpdError::VersionNotSupported),
        Err(httparse::Error::TooManyHeaders) => return fail(HttpdError::HeadersTooLarge),
        Err(_) => return fail(HttpdError::BadRequest),
    }
    let method = req.method.unwrap_or("").to_owned();
    if !METHODS.contains(&method.as_str()) {
        return fail(HttpdError::BadRequest);
    }
    let uri = req.path.unwrap_or("").to_owned();
    let mut content_len = None;
    let mut chunked = false;
    let mut cookie = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(h.value).unwrap_or("").trim();
            let Ok(n) = text.parse::<usize>() else {
                return fail(HttpdError::BadRequest);
            };
            if content_len.replace(n).is_some() {
                return fail(HttpdError::BadRequest);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked |= String::from_utf8_lossy(h.value)
                .to_ascii_lowercase()
                .contains("chunked");
        } else if h.name.eq_ignore_ascii_case("cookie") && cookie.is_none() {
            // httpd_req_get_hdr_value_str(): the first Cookie header; too long for the buffer = unusable.
            cookie = Some(if h.value.len() < COOKIE_BUF {
                Cookie::Value(String::from_utf8_lossy(h.value).into_owned())
            } else {
                Cookie::Unusable
            });
        }
    }
    let head = Head {
        method,
        uri,
        content_len: if chunked { 0 } else { content_len.unwrap_or(0) },
        cookie: cookie.unwrap_or(Cookie::Unusable),
    };
    buf.drain(..head_end);
    Ok(Some(head))
}

/// Index just past the blank line ending the head (`\r\n\r\n`, or bare `\n\n` which http_parser accepts).
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<Head>, HttpdError> {
        let mut buf = text.as_bytes().to_vec();
        try_parse(&mut buf).map_err(|e| match e {
            ReadError::Httpd(e) => e,
            ReadError::Closed => panic!("closed"),
        })
    }

    #[test]
    fn responses_are_byte_exact() {
        assert_eq!(
            HttpdError::NotFound.response(),
            b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 29\r\n\r\nNothing matches the given URI"
        );
        assert_eq!(
            ok_response(b"\x01\x02", Some(7)),
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\nSet-Cookie: session=7\r\n\r\n\x01\x02"
        );
    }

    #[test]
    fn heads_parse_under_esp_http_server_rules() {
        let h =
            parse("POST /prov-session HTTP/1.1\r\nContent-Length: 5\r\nCookie: session=42\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(
            (h.method.as_str(), h.path(), h.content_len),
            ("POST", "/prov-session", 5)
        );
        assert_eq!(h.cookie, Cookie::Value("session=42".into()));
        assert!(parse("POST /x HTTP/1.1\r\nContent-Le").unwrap().is_none());
        let long = format!("POST /{} HTTP/1.1\r\n\r\n", "a".repeat(600));
        assert_eq!(parse(&long).unwrap_err(), HttpdError::UriTooLong);
        let partial = format!("POST /{}", "a".repeat(600));
        assert_eq!(parse(&partial).unwrap_err(), HttpdError::UriTooLong);
        let big = format!("POST /x HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(1100));
        assert_eq!(parse(&big).unwrap_err(), HttpdError::HeadersTooLarge);
        assert_eq!(
            parse("\x16\x03\x01garbage\r\n\r\n").unwrap_err(),
            HttpdError::BadRequest
        );
        assert_eq!(
            parse("BREW /x HTTP/1.1\r\n\r\n").unwrap_err(),
            HttpdError::BadRequest
        );
        assert_eq!(
            parse("POST /x HTTP/2.0\r\n\r\n").unwrap_err(),
            HttpdError::VersionNotSupported
        );
        let cookie = parse("POST /x HTTP/1.1\r\nCookie: session=4294967295123\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(cookie.cookie, Cookie::Unusable);
        let chunked = parse("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(chunked.content_len, 0);
        assert_eq!(
            parse("POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
                .unwrap_err(),
            HttpdError::BadRequest
        );
    }
}
