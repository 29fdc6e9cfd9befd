//! The SoftAP scheme's HTTP transport: `protocomm_httpd` on an `esp_http_server` model (spec §4.1).
//!
//! What clients observe, and what this reproduces:
//! - one endpoint per URI `/<name>`, POST only (404 / 405 otherwise, then close);
//! - the session rule of `protocomm_httpd`: a `Cookie: session=<id>` equal to the current id continues the
//!   session; with no usable cookie the socket that opened the session continues it; anything else opens a
//!   new session (any endpoint, even `proto-ver`) answered with `Set-Cookie: session=<random u32>`;
//! - a body that is empty, chunked, over 4096 bytes or stalls, and every error of the device, closes the
//!   connection without a response;
//! - `max_open_sockets = 1` with LRU purge: a new connection closes the least recently used one, so a
//!   stuck client cannot lock others out; requests are handled one at a time, as by the single httpd task;
//! - the server exists only while the provisioning service runs: when it stops the listener closes
//!   (connection refused), and it comes back, with no session, after a reboot into provisioning.
//!
//! [`HttpLimits`] can lift the chip's limits for load tests (more sockets and sessions, requests that do
//! not wait for each other); [`HttpLimits::CHIP`], the default, is protocomm_httpd's.
//!
//! Two deliberate misbehaviours (off by default) bend these rules: `ignore-session-cookie` (sessions follow
//! the socket only) and `empty-body-processed` (an empty body reaches the endpoint, as on Zephyr).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex as AsyncMutex;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

use crate::misbehave::Misbehaviour;
use crate::runtime::{DeviceHandle, RequestError, SessionRef};
use crate::transport::httpd::{self, Cookie, Head, HttpdError, ReadError};

/// `protocomm_httpd`'s `MAX_REQ_BODY_LEN`.
const MAX_REQ_BODY_LEN: usize = 4096;

/// How much the server takes at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// Open connections; a new one past the limit closes the least recently used (LRU purge).
    pub max_open_sockets: usize,
    /// Open connections from one peer address; past it, that peer's own least recently used one
    /// closes, so a flood from one host cannot push out everyone else's.
    pub max_sockets_per_peer: usize,
    /// Sessions tracked at once (by cookie, or by the socket that opened them); the device's
    /// `max_sessions` should match.
    pub sessions: usize,
    /// How long a request head (from its first byte) or body may take to arrive.
    pub recv_timeout: Duration,
    /// Requests wait for each other, bodies included, as on the single httpd task of a chip.
    pub serialized: bool,
    /// A connection's close also closes the secure sessions it opened (on a chip they survive it, and
    /// the next session evicts them; with thousands of sessions they would pile up instead).
    pub sessions_end_with_connection: bool,
}

impl HttpLimits {
    /// protocomm_httpd on a chip: `max_open_sockets = 1`, one session, `recv_wait_timeout` 5 s, one
    /// request at a time.
    pub const CHIP: Self = Self {
        max_open_sockets: 1,
        max_sockets_per_peer: 1,
        sessions: 1,
        recv_timeout: httpd::RECV_TIMEOUT,
        serialized: true,
        sessions_end_with_connection: false,
    };

    /// For load tests: 4096 connections (64 per peer address) and sessions, requests handled as they
    /// complete (a slow body holds only its own connection), sessions closed with their connection,
    /// the chip's receive timeout.
    pub const LOAD: Self = Self {
        max_open_sockets: 4096,
        max_sockets_per_peer: 64,
        sessions: 4096,
        recv_timeout: httpd::RECV_TIMEOUT,
        serialized: false,
        sessions_end_with_connection: true,
    };
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self::CHIP
    }
}

/// The SoftAP HTTP server.
pub struct HttpServer {
    addr: SocketAddr,
    listener: Option<TcpListener>,
    limits: HttpLimits,
}

/// `protocomm_httpd`'s two globals, `cookie_session_id` and `sock_session_id`, one pair per session
/// (one on a chip).
#[derive(Default)]
struct Sessions {
    /// Open sessions, least recently opened first, each with the connection that opened it until
    /// cookies are seen or it closes.
    open: Vec<(u32, Option<u64>)>,
}

struct Conn {
    id: u64,
    peer: std::net::IpAddr,
    last_used: Instant,
    /// Bytes arrived on it. The purge takes connections that never sent any first (a flood's), then
    /// the least recently used (with one socket, as on a chip, there is only ever one candidate).
    served: bool,
    task: AbortHandle,
}

struct Shared {
    limits: HttpLimits,
    sessions: Mutex<Sessions>,
    conns: Mutex<Vec<Conn>>,
    /// The httpd task: one request is handled at a time (when `limits.serialized`).
    server: AsyncMutex<()>,
}

impl Shared {
    /// The httpd task's turn, when requests are serialized.
    async fn turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        if self.limits.serialized {
            Some(self.server.lock().await)
        } else {
            None
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl HttpServer {
    /// Bind `addr` now, so a busy port is reported at start-up and port 0 is resolved.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self {
            addr: listener.local_addr()?,
            listener: Some(listener),
            limits: HttpLimits::CHIP,
        })
    }

    /// Serve with `limits` instead of the chip's.
    pub fn with_limits(mut self, limits: HttpLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serve for as long as the device task lives: up while the provisioning service runs, down (port
    /// closed) while it does not.
    pub async fn run(mut self, handle: DeviceHandle) {
        let mut status = handle.status();
        loop {
            let boot = loop {
                let s = status.borrow_and_update().clone();
                if s.serving {
                    break s.boot;
                }
                if self.listener.take().is_some() {
                    tracing::info!(addr = %self.addr, "provisioning not running: SoftAP HTTP server down");
                }
                if status.changed().await.is_err() {
                    return;
                }
            };
            let listener = match self.listener.take() {
                Some(l) => l,
                None => match rebind(self.addr).await {
                    Some(l) => l,
                    None => return,
                },
            };
            tracing::info!(addr = %self.addr, boot, "SoftAP HTTP server up");
            let shared = Arc::new(Shared {
                limits: self.limits,
                sessions: Mutex::default(),
                conns: Mutex::default(),
                server: AsyncMutex::default(),
            });
            let mut tasks = JoinSet::new();
            let mut next_id = 0u64;
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, peer)) => {
                            next_id += 1;
                            accept(&shared, &mut tasks, stream, peer, next_id, &handle, boot).await;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    },
                    changed = status.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let s = status.borrow().clone();
                        if !s.serving || s.boot != boot {
                            break;
                        }
                    }
                }
            }
            // httpd_stop(): every connection and the listener close together.
            tasks.abort_all();
            drop(listener);
            tracing::info!(addr = %self.addr, "SoftAP HTTP server stopped");
        }
    }
}

async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    for _ in 0..50 {
        match TcpListener::bind(addr).await {
            Ok(l) => return Some(l),
            Err(e) => {
                tracing::warn!(%addr, error = %e, "cannot re-open the SoftAP HTTP port; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    tracing::error!(%addr, "giving up on the SoftAP HTTP port");
    None
}

/// `httpd_accept_conn()` with LRU purge, then the connection's task.
async fn accept(
    shared: &Arc<Shared>,
    tasks: &mut JoinSet<()>,
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    handle: &DeviceHandle,
    boot: u64,
) {
    while tasks.try_join_next().is_some() {}
    // The httpd task accepts only between requests.
    let _server = shared.turn().await;
    {
        let mut conns = lock(&shared.conns);
        loop {
            let same_peer = conns.iter().filter(|c| c.peer == peer.ip()).count();
            let peer_full = same_peer >= shared.limits.max_sockets_per_peer.max(1);
            if !peer_full && conns.len() < shared.limits.max_open_sockets.max(1) {
                break;
            }
            let Some(lru) = conns
                .iter()
                .enumerate()
                .filter(|(_, c)| !peer_full || c.peer == peer.ip())
                .min_by_key(|(_, c)| (c.served, c.last_used))
                .map(|(i, _)| i)
            else {
                break;
            };
            let old = conns.swap_remove(lru);
            tracing::debug!(
                conn = old.id,
                served = old.served,
                "LRU purge: closing the least recently used connection"
            );
            old.task.abort();
        }
    }
    tracing::debug!(conn = id, %peer, "connection accepted");
    let task = tasks.spawn(connection(
        stream,
        id,
        Arc::clone(shared),
        handle.clone(),
        boot,
    ));
    lock(&shared.conns).push(Conn {
        id,
        peer: peer.ip(),
        last_used: Instant::now(),
        served: false,
        task,
    });
}

/// Runs when a connection ends for any reason, purge included.
struct ConnGuard {
    id: u64,
    shared: Arc<Shared>,
    /// This connection opened a session, so its close runs `protocomm_httpd_session_close`.
    owns_session_ctx: bool,
    /// Sessions this connection opened, and how to close them (`sessions_end_with_connection`).
    opened: Vec<u32>,
    device: (DeviceHandle, u64),
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        lock(&self.shared.conns).retain(|c| c.id != self.id);
        if self.owns_session_ctx {
            // ESP-IDF clears `sock_session_id` whoever holds it now (with one session, whichever
            // connection that is); the security session survives.
            let one = self.shared.limits.sessions <= 1;
            for (_, sock) in &mut lock(&self.shared.sessions).open {
                if one || *sock == Some(self.id) {
                    *sock = None;
                }
            }
        }
        if self.shared.limits.sessions_end_with_connection && !self.opened.is_empty() {
            let opened = std::mem::take(&mut self.opened);
            lock(&self.shared.sessions)
                .open
                .retain(|(id, _)| !opened.contains(id));
            let (handle, boot) = self.device.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    for id in opened {
                        handle.close_session(boot, id).await;
                    }
                });
            }
        }
        tracing::debug!(conn = self.id, "connection closed");
    }
}

async fn connection(
    stream: TcpStream,
    id: u64,
    shared: Arc<Shared>,
    handle: DeviceHandle,
    boot: u64,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let mut guard = ConnGuard {
        id,
        shared: Arc::clone(&shared),
        owns_session_ctx: false,
        opened: Vec::new(),
        device: (handle.clone(), boot),
    };
    let mut buf = Vec::new();
    // The first bytes mark the connection as a client's, not an idle one the purge should take first.
    if rd.readable().await.is_ok() {
        if let Some(c) = lock(&shared.conns).iter_mut().find(|c| c.id == id) {
            c.served = true;
        }
    }
    loop {
        let head = match httpd::read_head(&mut rd, &mut buf, shared.limits.recv_timeout).await {
            Ok(Some(h)) => h,
            Ok(None) | Err(ReadError::Closed) => return,
            Err(ReadError::Httpd(e)) => {
                tracing::info!(conn = id, status = ?e, "bad request");
                let _ = wr.write_all(&e.response()).await;
                return;
            }
        };
        let _server = shared.turn().await;
        if let Some(c) = lock(&shared.conns).iter_mut().find(|c| c.id == id) {
            c.last_used = Instant::now();
        }
        let registered = {
            let status = handle.status();
            let s = status.borrow();
            s.endpoints
                .iter()
                .any(|e| head.path().strip_prefix('/') == Some(e.name.as_str()))
        };
        let refusal = if !registered {
            Some(HttpdError::NotFound)
        } else if head.method != "POST" {
            Some(HttpdError::MethodNotAllowed)
        } else {
            None
        };
        if let Some(e) = refusal {
            tracing::info!(conn = id, method = %head.method, uri = %head.uri, status = ?e, "request refused");
            let _ = wr.write_all(&e.response()).await;
            return;
        }
        match post(&head, &mut rd, &mut buf, &shared, &mut guard, &handle, boot).await {
            Some(response) => {
                if wr.write_all(&response).await.is_err() {
                    return;
                }
            }
            None => {
                tracing::info!(conn = id, uri = %head.uri, "handler failed: closing without a response");
                return;
            }
        }
    }
}

/// `common_post_handler()`: session bookkeeping, body, protocomm. `None` closes the connection.
async fn post(
    head: &Head,
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut Vec<u8>,
    shared: &Shared,
    guard: &mut ConnGuard,
    handle: &DeviceHandle,
    boot: u64,
) -> Option<Vec<u8>> {
    let misbehaves = |m| handle.misbehaviours().contains(&m);
    // Misbehaviour `ignore-session-cookie`: every request looks cookie-less, so only the socket counts.
    let cookie = if misbehaves(Misbehaviour::IgnoreSessionCookie) {
        &Cookie::Unusable
    } else {
        &head.cookie
    };
    let one = shared.limits.sessions <= 1;
    let (same, previous) = {
        let mut s = lock(&shared.sessions);
        let same = match cookie {
            Cookie::Value(v) => {
                let found = s
                    .open
                    .iter_mut()
                    .find(|(id, _)| *v == format!("session={id}"));
                found.map(|(id, sock)| {
                    *sock = None;
                    *id
                })
            }
            Cookie::Unusable => s
                .open
                .iter()
                .find(|(_, sock)| *sock == Some(guard.id))
                .map(|(id, _)| *id),
        };
        (same, s.open.last().map(|(id, _)| *id))
    };
    let fresh = same.is_none();
    // On a chip the new session replaces the one open session; with more, the device evicts the least
    // recently opened itself.
    let replaces = if one { previous } else { None };
    // Misbehaviour `empty-body-processed` (Zephyr): an empty body reaches the endpoint.
    let empty_ok = head.content_len == 0 && misbehaves(Misbehaviour::EmptyBodyProcessed);
    let body = if (head.content_len == 0 && !empty_ok) || head.content_len > MAX_REQ_BODY_LEN {
        tracing::info!(
            conn = guard.id,
            len = head.content_len,
            "content length missing or over 4096"
        );
        None
    } else {
        httpd::read_body(rd, buf, head.content_len, shared.limits.recv_timeout).await
    };
    let endpoint = head.uri.strip_prefix('/').unwrap_or(&head.uri);
    let (session, reply) = match (body, fresh) {
        (Some(body), false) => {
            let session = same?;
            let reply = handle.request(boot, endpoint, session, body).await;
            (session, reply)
        }
        (Some(body), true) => {
            let answered = handle
                .request_in(boot, endpoint, SessionRef::Fresh { replaces }, body)
                .await
                .ok()?;
            (answered.session, answered.reply)
        }
        // ESP-IDF opens the new session before it looks at the body, so a refused body still has one.
        (None, true) => (
            handle.open_fresh_session(boot, replaces).await?,
            Err(RequestError::Gone),
        ),
        (None, false) => return None,
    };
    if fresh {
        let mut s = lock(&shared.sessions);
        s.open.retain(|(id, _)| *id != session);
        while s.open.len() >= shared.limits.sessions.max(1) {
            s.open.remove(0);
        }
        s.open.push((session, Some(guard.id)));
        if shared.limits.sessions_end_with_connection {
            guard.opened.push(session);
        }
        guard.owns_session_ctx = true;
        tracing::debug!(conn = guard.id, session, "new session");
    }
    match reply {
        Ok(reply) => Some(httpd::ok_response(&reply, fresh.then_some(session))),
        Err(_) => None,
    }
}
