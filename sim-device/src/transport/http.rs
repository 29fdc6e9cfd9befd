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
/// `max_open_sockets` as `protocomm_httpd_start()` sets it.
const MAX_OPEN_SOCKETS: usize = 1;

/// The SoftAP HTTP server.
pub struct HttpServer {
    addr: SocketAddr,
    listener: Option<TcpListener>,
}

/// `protocomm_httpd`'s two globals.
#[derive(Default)]
struct Sessions {
    /// `cookie_session_id`: the open session.
    cookie: Option<u32>,
    /// `sock_session_id`: the connection that opened it, until cookies are seen or it closes.
    sock: Option<u64>,
}

struct Conn {
    id: u64,
    last_used: Instant,
    task: AbortHandle,
}

#[derive(Default)]
struct Shared {
    sessions: Mutex<Sessions>,
    conns: Mutex<Vec<Conn>>,
    /// The httpd task: one request is handled at a time.
    server: AsyncMutex<()>,
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
        })
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
            let shared = Arc::new(Shared::default());
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
    let _server = shared.server.lock().await;
    {
        let mut conns = lock(&shared.conns);
        while conns.len() >= MAX_OPEN_SOCKETS {
            let Some(lru) = conns
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| c.last_used)
                .map(|(i, _)| i)
            else {
                break;
            };
            let old = conns.swap_remove(lru);
            tracing::debug!(
                conn = old.id,
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
        last_used: Instant::now(),
        task,
    });
}

/// Runs when a connection ends for any reason, purge included.
struct ConnGuard {
    id: u64,
    shared: Arc<Shared>,
    /// This connection opened a session, so its close runs `protocomm_httpd_session_close`.
    owns_session_ctx: bool,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        lock(&self.shared.conns).retain(|c| c.id != self.id);
        if self.owns_session_ctx {
            // ESP-IDF clears `sock_session_id` whoever holds it now; the security session survives.
            lock(&self.shared.sessions).sock = None;
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
    };
    let mut buf = Vec::new();
    loop {
        let head = match httpd::read_head(&mut rd, &mut buf).await {
            Ok(Some(h)) => h,
            Ok(None) | Err(ReadError::Closed) => return,
            Err(ReadError::Httpd(e)) => {
                tracing::info!(conn = id, status = ?e, "bad request");
                let _ = wr.write_all(&e.response()).await;
                return;
            }
        };
        let _server = shared.server.lock().await;
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
    let (same, previous) = {
        let mut s = lock(&shared.sessions);
        match cookie {
            Cookie::Value(v) => {
                let same = s.cookie.is_some_and(|id| *v == format!("session={id}"));
                if same {
                    s.sock = None;
                }
                (same, s.cookie)
            }
            Cookie::Unusable => (s.sock == Some(guard.id) && s.cookie.is_some(), s.cookie),
        }
    };
    let fresh = !same;
    let replaces = previous;
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
        httpd::read_body(rd, buf, head.content_len).await
    };
    let endpoint = head.uri.strip_prefix('/').unwrap_or(&head.uri);
    let (session, reply) = match (body, fresh) {
        (Some(body), false) => {
            let session = previous?;
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
        s.cookie = Some(session);
        s.sock = Some(guard.id);
        guard.owns_session_ctx = true;
        tracing::debug!(conn = guard.id, session, "new session");
    }
    match reply {
        Ok(reply) => Some(httpd::ok_response(&reply, fresh.then_some(session))),
        Err(_) => None,
    }
}
