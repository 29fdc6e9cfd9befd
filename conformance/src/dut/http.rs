//! The SoftAP scheme's client side (spec §4.1): `POST /<endpoint>` over HTTP/1.1, the session kept by
//! the `Set-Cookie` value the device hands out, sent back verbatim in `Cookie` as esp_prov does.
//!
//! Hand-written on `std::net` rather than an HTTP client crate because the cases must see exactly what
//! the device did: a connection closed with no response at all (ESP-IDF's transport error) is a verdict
//! here, not an error to retry, and cases need to send malformed requests and watch connection reuse.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::{Boot, Dut};
use crate::link::{Access, HttpAccess, Link, LinkError, RawResponse, Transport};
use crate::model::Answer;

/// Largest response the client accepts (the device's own limit is far below).
const MAX_RESPONSE: usize = 64 * 1024;

/// How a device's HTTP transport answers a request protocomm rejected (spec §4.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rejection {
    /// ESP-IDF's `protocomm_httpd`: the connection closes without a response.
    #[default]
    Close,
    /// The Zephyr port: `HTTP 500` (spec §8.1).
    Status500,
}

impl Rejection {
    /// What `profile` does.
    pub fn of(profile: prov_client::Profile) -> Self {
        match profile {
            prov_client::Profile::Zephyr => Self::Status500,
            _ => Self::Close,
        }
    }
}

/// An HTTP link to a device.
pub struct HttpLink {
    addr: SocketAddr,
    host: String,
    stream: Option<TcpStream>,
    cookie: Option<String>,
    session: u32,
    timeout: Duration,
    rejection: Rejection,
    _keep: Option<Box<dyn Send>>,
}

impl HttpLink {
    /// A link to `host:port`; nothing is connected until the first request.
    pub fn new(authority: &str, timeout: Duration) -> Result<Self, LinkError> {
        let addr = authority
            .to_socket_addrs()
            .map_err(|e| LinkError::Unreachable(format!("{authority}: {e}")))?
            .next()
            .ok_or_else(|| LinkError::Unreachable(format!("{authority}: no address")))?;
        Ok(Self {
            addr,
            host: authority.to_owned(),
            stream: None,
            cookie: None,
            session: 0,
            timeout,
            rejection: Rejection::Close,
            _keep: None,
        })
    }

    /// Judges rejections as `rejection` says (the device's profile).
    pub fn with_rejection(mut self, rejection: Rejection) -> Self {
        self.rejection = rejection;
        self
    }

    /// Keeps `keep` (e.g. the embedded simulator's tasks) alive as long as the link.
    pub fn with_keep(mut self, keep: Box<dyn Send>) -> Self {
        self._keep = Some(keep);
        self
    }

    /// Whether a connection is open.
    pub fn connected(&self) -> bool {
        self.stream.is_some()
    }

    fn stream(&mut self) -> Result<&mut TcpStream, LinkError> {
        if let Some(s) = &self.stream {
            if peer_closed(s) {
                self.stream = None;
            }
        }
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, self.timeout)
                .map_err(|e| LinkError::Unreachable(format!("{}: {e}", self.addr)))?;
            s.set_read_timeout(Some(self.timeout))?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
        }
        self.stream
            .as_mut()
            .ok_or_else(|| LinkError::Unreachable("no connection".into()))
    }

    fn read_response(&mut self) -> Result<RawResponse, LinkError> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(LinkError::Gone("no connection".into()));
        };
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(resp) = parse(&buf)? {
                let closed = resp
                    .header("connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("close"));
                return Ok(RawResponse { closed, ..resp });
            }
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(LinkError::Gone(format!(
                        "no answer within {:?} and the connection is still open",
                        self.timeout
                    )));
                }
                Err(e) => return Err(e.into()),
            }
            if buf.len() > MAX_RESPONSE {
                return Err(LinkError::Gone("response larger than 64 KiB".into()));
            }
        }
        // EOF before a complete response: ESP-IDF's transport error.
        Ok(RawResponse {
            status: None,
            headers: Vec::new(),
            body: buf,
            closed: true,
        })
    }
}

/// True when the peer has closed an idle connection (a read would return EOF right away).
fn peer_closed(s: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    if s.set_nonblocking(true).is_err() {
        return true;
    }
    let closed = match s.peek(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    };
    closed || s.set_nonblocking(false).is_err()
}

/// Parses a complete response from `buf`, or `None` if more bytes are needed.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<RawResponse>, LinkError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(LinkError::Gone(format!("malformed HTTP response: {e}"))),
    };
    let hs: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let len = hs
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.trim().parse::<usize>())
        .transpose()
        .map_err(|e| LinkError::Gone(format!("bad Content-Length: {e}")))?
        .unwrap_or(0);
    let Some(body) = buf.get(head_len..head_len + len) else {
        return Ok(None);
    };
    Ok(Some(RawResponse {
        status: resp.code,
        headers: hs,
        body: body.to_vec(),
        closed: false,
    }))
}

impl Link for HttpLink {
    fn transport(&self) -> Transport {
        Transport::Http
    }

    fn request(&mut self, endpoint: &str, body: &[u8]) -> Result<Answer, LinkError> {
        let req = self.post_bytes(endpoint, body);
        let resp = self.raw(&req)?;
        if let Some(c) = resp.header("set-cookie") {
            self.cookie = Some(c.to_owned());
        }
        // esp_http_server closes the socket after an error status, without saying so; a request
        // written into that socket would be lost and look like a transport error. Reconnect instead.
        if resp.status != Some(200) {
            self.stream = None;
        }
        // Only the profile's own rejection is "no response"; the other one is a deviation.
        match (resp.status, self.rejection) {
            (Some(200), _) => Ok(Answer::Data(resp.body)),
            (None, Rejection::Close) => Ok(Answer::NoResponse(
                "connection closed without a response".into(),
            )),
            (None, Rejection::Status500) => Err(LinkError::Deviation(
                "the connection closed without a response, where the Zephyr port answers HTTP 500 (spec §8.1)".into(),
            )),
            (Some(500), Rejection::Status500) => Ok(Answer::NoResponse("HTTP 500".into())),
            (Some(500), Rejection::Close) => Err(LinkError::Deviation(format!(
                "HTTP 500 {:?}: ESP-IDF's httpd closes the connection without a response when protocomm rejects a request (spec §4.4); HTTP 500 is the Zephyr port's answer",
                String::from_utf8_lossy(&resp.body)
            ))),
            // The HTTP server's own refusals (404 unknown endpoint, 405 method, 4xx framing).
            (Some(code), _) => Ok(Answer::NoResponse(format!("HTTP {code}"))),
        }
    }

    fn new_session(&mut self) -> Result<(), LinkError> {
        self.stream = None;
        self.cookie = None;
        self.session += 1;
        Ok(())
    }

    fn session(&self) -> u32 {
        self.session
    }

    fn access(&mut self) -> Access<'_> {
        Access::Http(self)
    }
}

impl HttpAccess for HttpLink {
    fn post_bytes(&self, endpoint: &str, body: &[u8]) -> Vec<u8> {
        let mut head = format!(
            "POST /{endpoint} HTTP/1.1\r\nHost: {}\r\nContent-type: application/x-www-form-urlencoded\r\nAccept: text/plain\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        if let Some(c) = &self.cookie {
            head.push_str(&format!("Cookie: {c}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        out
    }
    fn raw(&mut self, bytes: &[u8]) -> Result<RawResponse, LinkError> {
        let stream = self.stream()?;
        if let Err(e) = stream.write_all(bytes) {
            self.stream = None;
            return match e.kind() {
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset => Ok(RawResponse {
                    status: None,
                    headers: Vec::new(),
                    body: Vec::new(),
                    closed: true,
                }),
                _ => Err(e.into()),
            };
        }
        // A connection that timed out (or broke) is never used again: a late answer on it would be
        // taken for the next request's.
        let resp = self.read_response().inspect_err(|_| self.stream = None)?;
        if resp.closed {
            self.stream = None;
        }
        Ok(resp)
    }
    fn cookie(&self) -> Option<&str> {
        self.cookie.as_deref()
    }
    fn set_cookie(&mut self, cookie: Option<String>) {
        self.cookie = cookie;
    }
    fn drop_connection(&mut self) {
        self.stream = None;
    }
}

/// A SoftAP-scheme device at a fixed address; it keeps its state between cases.
pub struct HttpDut {
    authority: String,
    timeout: Duration,
    rejection: Rejection,
}

impl HttpDut {
    /// The device at `authority` (`HOST:PORT`); `timeout` bounds every reply, `rejection` is how its
    /// profile answers a rejected request.
    pub fn new(authority: String, timeout: Duration, rejection: Rejection) -> Self {
        Self {
            authority,
            timeout,
            rejection,
        }
    }
}

impl Dut for HttpDut {
    fn label(&self) -> String {
        format!("http://{}", self.authority)
    }
    fn transport(&self) -> Transport {
        Transport::Http
    }
    fn fresh_per_connect(&self) -> bool {
        false
    }
    fn parallelism(&self) -> usize {
        1
    }
    fn connect(&self, _boot: &Boot) -> Result<Box<dyn Link>, LinkError> {
        Ok(Box::new(
            HttpLink::new(&self.authority, self.timeout)?.with_rejection(self.rejection),
        ))
    }
}
