//! The device task: one [`Board`] driven from a tokio task, on wall-clock or virtual time.
//!
//! Transports talk to it through a cloneable [`DeviceHandle`] (mini-redis's shape: one task owns the state,
//! everyone else sends commands over a channel). Every request carries the boot number it was made under,
//! so nothing from before a reboot reaches the new device: a rebooted chip forgets its sessions.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use crate::misbehave::Misbehaviours;
use crate::runtime::board::{Board, Outcome};
use crate::SessionId;

pub use super::options::{
    ControlOp, EndpointEntry, RequestError, RngFactory, SessionRef, SimOptions, Status,
    DEFAULT_HISTORY,
};

type Responder<T> = oneshot::Sender<T>;

/// A request's answer and the transport session it ran in.
#[derive(Debug)]
pub struct Answered {
    /// The session (a fresh session's random id, as `Set-Cookie` announces it).
    pub session: SessionId,
    /// The device's answer.
    pub reply: Result<Vec<u8>, RequestError>,
}

enum Command {
    Request {
        boot: u64,
        endpoint: String,
        session: SessionRef,
        body: Vec<u8>,
        reply: Responder<Answered>,
    },
    OpenSession {
        boot: u64,
        session: SessionId,
    },
    OpenFresh {
        boot: u64,
        replaces: Option<SessionId>,
        reply: Responder<SessionId>,
    },
    CloseSession {
        boot: u64,
        session: SessionId,
    },
    Control {
        op: ControlOp,
        reply: Responder<Result<Value, String>>,
    },
}

/// A cheap, cloneable way to reach the device task.
#[derive(Clone)]
pub struct DeviceHandle {
    tx: mpsc::Sender<Command>,
    status: watch::Receiver<Status>,
    misbehave: Arc<Misbehaviours>,
}

impl DeviceHandle {
    /// The deliberate defects the device was configured with; transports apply their own
    /// (`ignore-session-cookie`, `empty-body-processed`).
    pub fn misbehaviours(&self) -> &Misbehaviours {
        &self.misbehave
    }

    /// The current status, and a way to wait for changes.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// One protocomm request in `session` under boot `boot`, in one trip to the device task (a fresh
    /// session is opened there, under the device's random id). The reply latency of the world is applied
    /// here. `Err` when nothing reached the device (it rebooted, or its task ended).
    pub async fn request_in(
        &self,
        boot: u64,
        endpoint: &str,
        session: SessionRef,
        body: Vec<u8>,
    ) -> Result<Answered, RequestError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Request {
            boot,
            endpoint: endpoint.to_owned(),
            session,
            body,
            reply,
        };
        self.tx.send(cmd).await.map_err(|_| RequestError::Gone)?;
        let out = rx.await.map_err(|_| RequestError::Rebooted)?;
        let latency = self.status.borrow().reply_latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        Ok(out)
    }

    /// One protocomm request in the open session `session`.
    pub async fn request(
        &self,
        boot: u64,
        endpoint: &str,
        session: SessionId,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, RequestError> {
        self.request_in(boot, endpoint, SessionRef::Open(session), body)
            .await?
            .reply
    }

    /// A new session under the device's random id, closing `replaces`, with no request (the HTTP
    /// transport opens it before it reads the body, which may then be refused). `None` when the device
    /// rebooted or its task ended.
    pub async fn open_fresh_session(
        &self,
        boot: u64,
        replaces: Option<SessionId>,
    ) -> Option<SessionId> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::OpenFresh {
            boot,
            replaces,
            reply,
        };
        self.tx.send(cmd).await.ok()?;
        rx.await.ok()
    }

    /// A transport saw a new client session.
    pub async fn open_session(&self, boot: u64, session: SessionId) {
        let _ = self.tx.send(Command::OpenSession { boot, session }).await;
    }

    /// A transport saw a client session end.
    pub async fn close_session(&self, boot: u64, session: SessionId) {
        let _ = self.tx.send(Command::CloseSession { boot, session }).await;
    }

    /// A control-channel operation.
    pub async fn control(&self, op: ControlOp) -> Result<Value, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Control { op, reply })
            .await
            .map_err(|_| "device task ended".to_owned())?;
        rx.await.map_err(|_| "device task ended".to_owned())?
    }
}

/// Boot the device and start its task on the current tokio runtime.
pub fn spawn(opts: SimOptions) -> Result<DeviceHandle, String> {
    let (tx, rx) = mpsc::channel(64);
    let misbehave = Arc::new(opts.device.misbehave.clone());
    let board = Board::boot(opts)?;
    let (status_tx, status) = watch::channel(board.status());
    let driver = Driver {
        board,
        pending: None,
        status_tx,
    };
    tokio::spawn(driver.run(rx));
    Ok(DeviceHandle {
        tx,
        status,
        misbehave,
    })
}

/// A request waiting for a deferred answer: its session, its boot, and where the answer goes.
struct Pending {
    boot: u64,
    session: SessionId,
    reply: Responder<Answered>,
}

struct Driver {
    board: Board,
    pending: Option<Pending>,
    status_tx: watch::Sender<Status>,
}

impl Driver {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        loop {
            let deadline = self.board.poll_timeout();
            let timer = async move {
                match deadline {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => return,
                },
                () = timer => self.board.on_timer(),
            }
            self.deliver();
            self.publish();
        }
    }

    /// Hands a deferred answer to the request waiting for it; a reboot drops the request (its client
    /// sees the connection go, as after a chip reset).
    fn deliver(&mut self) {
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.boot != self.board.boot_count())
        {
            self.pending = None;
        }
        while let Some(reply) = self.board.take_reply() {
            if let Some(p) = self.pending.take() {
                let _ = p.reply.send(Answered {
                    session: p.session,
                    reply,
                });
            }
        }
    }

    /// Make the current status visible to transports.
    fn publish(&self) {
        let status = self.board.status();
        self.status_tx.send_if_modified(|s| {
            let changed = *s != status;
            *s = status;
            changed
        });
    }

    fn command(&mut self, cmd: Command) {
        let current = self.board.boot_count();
        match cmd {
            Command::Request { boot, reply, .. } if boot != current => {
                let _ = reply.send(Answered {
                    session: 0,
                    reply: Err(RequestError::Rebooted),
                });
            }
            Command::Request {
                endpoint,
                session,
                body,
                reply,
                ..
            } => match self.board.request(&endpoint, session, &body) {
                (session, Outcome::Ready(out)) => {
                    let _ = reply.send(Answered {
                        session,
                        reply: Ok(out),
                    });
                }
                (session, Outcome::Failed(e)) => {
                    let _ = reply.send(Answered {
                        session,
                        reply: Err(e),
                    });
                }
                (session, Outcome::Deferred) => {
                    self.pending = Some(Pending {
                        boot: current,
                        session,
                        reply,
                    });
                }
            },
            Command::OpenSession { boot, session } if boot == current => {
                self.board.open_session(session);
            }
            Command::CloseSession { boot, session } if boot == current => {
                self.board.close_session(session);
            }
            Command::OpenFresh {
                boot,
                replaces,
                reply,
            } if boot == current => {
                let _ = reply.send(self.board.open_fresh_session(replaces));
            }
            Command::OpenSession { .. }
            | Command::CloseSession { .. }
            | Command::OpenFresh { .. } => {}
            Command::Control { op, reply } => {
                let out = self.board.control(op);
                // Whoever asked for a reboot sees the new boot as soon as the answer arrives.
                self.deliver();
                self.publish();
                let _ = reply.send(out);
            }
        }
    }
}
