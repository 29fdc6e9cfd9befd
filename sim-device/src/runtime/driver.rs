//! The device task: owns one [`Device`], feeds it requests, wall-clock time and randomness (OS, seeded, or
//! injected per boot through [`RngFactory`]), persists credentials, keeps the event history, and reboots on
//! request or when the device reports [`DeviceEvent::Crashed`].
//!
//! Transports talk to it through a cloneable [`DeviceHandle`] (mini-redis's shape: one task owns the state,
//! everyone else sends commands over a channel). Every request carries the boot number it was made under,
//! so nothing from before a reboot reaches the new device: a rebooted chip forgets its sessions.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use rand_core::RngCore;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::DeviceConfig;
use crate::device::Device;
use crate::error::Reject;
use crate::event::DeviceEvent;
use crate::misbehave::Misbehaviours;
use crate::protocomm::Reply;
use crate::rng::{DeviceRng, Draw, SeededRng};
use crate::runtime::events::{self, EventRecord};
use crate::runtime::store::CredentialStore;
use crate::runtime::world::{World, WorldFile};
use crate::wifi::Ap;
use crate::SessionId;

/// Upper bound on timer expiries in one virtual-clock step (a device re-arming timers forever).
const MAX_VIRTUAL_STEPS: usize = 10_000;

/// How many events the history keeps (oldest dropped first).
const HISTORY: usize = 10_000;

pub use super::options::{ControlOp, EndpointEntry, RequestError, RngFactory, SimOptions, Status};

type Responder<T> = oneshot::Sender<T>;

enum Command {
    Request {
        boot: u64,
        endpoint: String,
        session: SessionId,
        body: Vec<u8>,
        reply: Responder<Result<Vec<u8>, RequestError>>,
    },
    OpenSession {
        boot: u64,
        session: SessionId,
    },
    CloseSession {
        boot: u64,
        session: SessionId,
    },
    NewCookie {
        reply: Responder<u32>,
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

    /// One protocomm request under boot `boot`. The reply latency of the world is applied here.
    pub async fn request(
        &self,
        boot: u64,
        endpoint: &str,
        session: SessionId,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, RequestError> {
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
        out
    }

    /// A transport saw a new client session.
    pub async fn open_session(&self, boot: u64, session: SessionId) {
        let _ = self.tx.send(Command::OpenSession { boot, session }).await;
    }

    /// A transport saw a client session end.
    pub async fn close_session(&self, boot: u64, session: SessionId) {
        let _ = self.tx.send(Command::CloseSession { boot, session }).await;
    }

    /// A fresh random session cookie from the device's RNG (`esp_random()` in `protocomm_httpd`).
    pub async fn new_cookie(&self) -> Result<u32, RequestError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::NewCookie { reply })
            .await
            .map_err(|_| RequestError::Gone)?;
        rx.await.map_err(|_| RequestError::Gone)
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
    let mut driver = Driver::boot(opts)?;
    let (status_tx, status) = watch::channel(driver.status());
    driver.drain();
    let _ = status_tx.send(driver.status());
    driver.status_tx = Some(status_tx);
    tokio::spawn(driver.run(rx));
    Ok(DeviceHandle {
        tx,
        status,
        misbehave,
    })
}

struct OsRng;

impl DeviceRng for OsRng {
    fn fill(&mut self, _draw: Draw, out: &mut [u8]) {
        rand_core::OsRng.fill_bytes(out);
    }
}

struct Driver {
    config: DeviceConfig,
    world: World,
    down: Vec<Ap>,
    store: Option<CredentialStore>,
    memory_creds: Option<crate::config::Credentials>,
    seed: Option<Vec<u8>>,
    rng: Option<RngFactory>,
    /// Virtual time, when [`SimOptions::virtual_clock`] is set.
    clock: Option<Instant>,
    device: Device,
    boot: u64,
    started: Instant,
    seq: u64,
    history: VecDeque<EventRecord>,
    pending: Option<Responder<Result<Vec<u8>, RequestError>>>,
    status_tx: Option<watch::Sender<Status>>,
}

impl Driver {
    fn boot(opts: SimOptions) -> Result<Self, String> {
        let stored = match &opts.store {
            Some(s) => s.load().map_err(|e| e.to_string())?,
            None => None,
        };
        let mut d = Self {
            device: Device::new(DeviceConfig::default(), Box::new(OsRng), Instant::now()),
            config: opts.device,
            world: opts.world,
            down: Vec::new(),
            store: opts.store,
            memory_creds: stored.clone(),
            seed: opts.seed,
            rng: opts.rng,
            clock: opts.virtual_clock.then(Instant::now),
            boot: 0,
            started: Instant::now(),
            seq: 0,
            history: VecDeque::new(),
            pending: None,
            status_tx: None,
        };
        d.device = d.new_device(stored);
        Ok(d)
    }

    fn new_device(&self, stored: Option<crate::config::Credentials>) -> Device {
        let mut cfg = self.config.clone();
        cfg.wifi = self.world.wifi.clone();
        cfg.stored_credentials = stored;
        let rng: Box<dyn DeviceRng> = match (&self.rng, &self.seed) {
            (Some(factory), _) => factory(self.boot),
            (None, Some(seed)) => {
                let mut s = seed.clone();
                s.extend_from_slice(&self.boot.to_be_bytes());
                Box::new(SeededRng::new(&s))
            }
            (None, None) => Box::new(OsRng),
        };
        tracing::info!(
            boot = self.boot,
            security = cfg.security.version(),
            profile = %cfg.profile,
            provisioned = cfg.stored_credentials.is_some(),
            "device boot"
        );
        Device::new(cfg, rng, self.now())
    }

    /// The device's notion of now: virtual or wall-clock.
    fn now(&self) -> Instant {
        self.clock.unwrap_or_else(Instant::now)
    }

    /// Fires every timer due by `end` in order (virtual clock), delivering what they complete.
    fn run_timers_until(&mut self, end: Instant) {
        for _ in 0..MAX_VIRTUAL_STEPS {
            match self.device.poll_timeout() {
                Some(t) if t <= end => {
                    self.clock = Some(t.max(self.now()));
                    self.device.handle_timeout(t);
                    self.drain();
                }
                _ => break,
            }
        }
        self.clock = Some(end.max(self.now()));
    }

    /// Virtual clock: a deferred reply moves time to each next timer until it is ready.
    fn settle_deferred(&mut self) {
        for _ in 0..MAX_VIRTUAL_STEPS {
            if self.pending.is_none() {
                return;
            }
            let Some(t) = self.device.poll_timeout() else {
                return;
            };
            self.clock = Some(t.max(self.now()));
            self.device.handle_timeout(t);
            self.drain();
        }
    }

    fn status(&self) -> Status {
        Status {
            boot: self.boot,
            serving: self.device.is_running(),
            endpoints: self
                .device
                .endpoints()
                .iter()
                .map(|e| EndpointEntry {
                    name: e.name.clone(),
                    ble_id: e.ble_id,
                })
                .collect(),
            service_state: self.device.service_state(),
            station_state: self.device.station_state(),
            provisioned: self.device.is_provisioned(),
            reply_latency: self.world.reply_latency,
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        loop {
            // On virtual time only requests and Advance move the clock.
            let deadline = match self.clock {
                Some(_) => None,
                None => self.device.poll_timeout(),
            };
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
                () = timer => self.device.handle_timeout(Instant::now()),
            }
            self.drain();
            if self.clock.is_some() {
                self.settle_deferred();
            }
            self.publish();
        }
    }

    /// Make the current status visible to transports.
    fn publish(&self) {
        let status = self.status();
        if let Some(tx) = &self.status_tx {
            tx.send_if_modified(|s| {
                let changed = *s != status;
                *s = status;
                changed
            });
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Request {
                boot,
                endpoint,
                session,
                body,
                reply,
            } => {
                if boot != self.boot {
                    let _ = reply.send(Err(RequestError::Rebooted));
                    return;
                }
                match self.device.handle(&endpoint, session, &body, self.now()) {
                    Ok(Reply::Ready(out)) => {
                        tracing::debug!(%endpoint, session, len = out.len(), "reply");
                        let _ = reply.send(Ok(out));
                    }
                    Ok(Reply::Deferred) => {
                        tracing::debug!(%endpoint, session, "reply deferred");
                        self.pending = Some(reply);
                    }
                    // The device crashed under the request: to the client it rebooted (drain() reboots).
                    Err(e) if e.why == Reject::Crashed => {
                        tracing::warn!(%endpoint, session, "device crashed on this request");
                        let _ = reply.send(Err(RequestError::Rebooted));
                    }
                    Err(e) => {
                        tracing::warn!(%endpoint, session, error = %e, "request failed: no response");
                        let _ = reply.send(Err(RequestError::Rejected(e)));
                    }
                }
            }
            Command::OpenSession { boot, session } if boot == self.boot => {
                tracing::debug!(session, "transport session opened");
                self.device.open_session(session);
            }
            Command::CloseSession { boot, session } if boot == self.boot => {
                tracing::debug!(session, "transport session closed");
                self.device.close_session(session);
            }
            Command::OpenSession { .. } | Command::CloseSession { .. } => {}
            Command::NewCookie { reply } => {
                let mut b = [0u8; 4];
                match &self.seed {
                    Some(_) => {
                        // Seeded runs stay reproducible: derive from the sequence of events so far.
                        let mut s = self.seed.clone().unwrap_or_default();
                        s.extend_from_slice(&self.seq.to_be_bytes());
                        s.extend_from_slice(b"cookie");
                        SeededRng::new(&s).fill(Draw::SessionCookie, &mut b);
                    }
                    None => OsRng.fill(Draw::SessionCookie, &mut b),
                }
                let _ = reply.send(u32::from_le_bytes(b));
            }
            Command::Control { op, reply } => {
                let out = self.control(op);
                // Whoever asked for a reboot sees the new boot as soon as the answer arrives.
                self.drain();
                self.publish();
                let _ = reply.send(out);
            }
        }
    }

    fn drain(&mut self) {
        while let Some(r) = self.device.poll_reply() {
            if let Some(tx) = self.pending.take() {
                let _ = tx.send(r.map_err(RequestError::Rejected));
            }
        }
        while let Some(e) = self.device.poll_event() {
            self.record(&e);
            match e {
                DeviceEvent::StoreCredentials(c) => {
                    if let Some(store) = &self.store {
                        if let Err(err) = store.save(&c) {
                            tracing::error!(error = %err, "credentials not persisted");
                        }
                    }
                    self.memory_creds = Some(c).filter(|c| !c.ssid.is_empty());
                }
                DeviceEvent::EraseCredentials => {
                    if let Some(store) = &self.store {
                        if let Err(err) = store.erase() {
                            tracing::error!(error = %err, "credentials not erased");
                        }
                    }
                    self.memory_creds = None;
                }
                DeviceEvent::Crashed => {
                    // A crash is a power cycle: sessions lost, credentials kept. Later events come from
                    // the new boot.
                    if let Err(err) = self.reboot() {
                        tracing::error!(error = %err, "reboot after crash failed");
                    }
                }
                _ => {}
            }
        }
    }

    fn record(&mut self, e: &DeviceEvent) {
        self.seq += 1;
        let rec = EventRecord {
            seq: self.seq,
            at: self.started.elapsed(),
            boot: self.boot,
            body: events::describe(e),
        };
        events::log(&rec);
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(rec);
    }

    fn reboot(&mut self) -> Result<(), String> {
        let stored = match &self.store {
            Some(s) => s.load().map_err(|e| e.to_string())?,
            None => self.memory_creds.clone(),
        };
        self.boot += 1;
        self.pending = None;
        self.device = self.new_device(stored);
        Ok(())
    }

    fn set_world(&mut self) {
        self.device.set_world(self.world.wifi.clone(), self.now());
    }

    fn control(&mut self, op: ControlOp) -> Result<Value, String> {
        match op {
            ControlOp::State => Ok(self.state_json()),
            ControlOp::Events { since } => Ok(Value::Array(
                self.history
                    .iter()
                    .filter(|r| r.seq > since)
                    .map(EventRecord::to_json)
                    .collect(),
            )),
            ControlOp::Reboot => {
                self.reboot()?;
                Ok(self.state_json())
            }
            ControlOp::FactoryReset => {
                self.device.reset_provisioning();
                self.drain();
                self.reboot()?;
                Ok(self.state_json())
            }
            ControlOp::GetWorld => {
                serde_json::to_value(WorldFile::from_world(&self.world)).map_err(|e| e.to_string())
            }
            ControlOp::SetWorld(file) => {
                self.world = file.to_world()?;
                self.down.clear();
                self.set_world();
                Ok(json!({"aps": self.world.wifi.aps.len()}))
            }
            ControlOp::ApDown(ssid) => {
                let (gone, kept): (Vec<Ap>, Vec<Ap>) = std::mem::take(&mut self.world.wifi.aps)
                    .into_iter()
                    .partition(|ap| ap.ssid == ssid.as_bytes());
                self.world.wifi.aps = kept;
                if gone.is_empty() {
                    return Err(format!("no AP named {ssid:?} is on the air"));
                }
                let n = gone.len();
                self.down.extend(gone);
                self.set_world();
                tracing::info!(%ssid, "AP taken off the air");
                Ok(json!({"down": n}))
            }
            ControlOp::ApUp(ssid) => {
                let (back, still): (Vec<Ap>, Vec<Ap>) = std::mem::take(&mut self.down)
                    .into_iter()
                    .partition(|ap| ap.ssid == ssid.as_bytes());
                self.down = still;
                if back.is_empty() {
                    return Err(format!("no AP named {ssid:?} was taken down"));
                }
                let n = back.len();
                self.world.wifi.aps.extend(back);
                self.set_world();
                tracing::info!(%ssid, "AP back on the air");
                Ok(json!({"up": n}))
            }
            ControlOp::FailNextConnect(reason) => {
                self.device.fail_next_connect(reason);
                Ok(json!({"next_connect_fails_with": reason.0}))
            }
            ControlOp::Advance(d) => match self.clock {
                Some(now) => {
                    self.run_timers_until(now + d);
                    Ok(json!({"advanced_ms": d.as_millis()}))
                }
                None => Err("advance needs the virtual clock (SimOptions::virtual_clock)".into()),
            },
        }
    }

    fn state_json(&self) -> Value {
        let s = self.status();
        json!({
            "boot": s.boot,
            "serving": s.serving,
            "service_state": format!("{:?}", s.service_state),
            "station_state": format!("{:?}", s.station_state),
            "provisioned": s.provisioned,
            "session": self.device.session(),
            "endpoints": s.endpoints.iter().map(|e| &e.name).collect::<Vec<_>>(),
            "security": self.config.security.version(),
            "profile": self.config.profile.name(),
            "uptime_ms": self.started.elapsed().as_millis() as u64,
            "events": self.seq,
            "aps_on_air": self.world.wifi.aps.len(),
            "aps_down": self.down.iter().map(|a| String::from_utf8_lossy(&a.ssid).into_owned()).collect::<Vec<_>>(),
        })
    }
}
