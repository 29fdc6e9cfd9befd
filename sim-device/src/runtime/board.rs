//! A [`Board`]: the sans-IO [`Device`] plus what the hardware around it does — its clock (wall-clock or
//! virtual), its randomness (OS, seeded, or injected per boot through [`RngFactory`]), its flash (the
//! credentials persist across reboots), its power (reboot, factory reset, reboot after a crash), the radio
//! environment and an event history.
//!
//! Synchronous and single-owner: the runtime's device task wraps one in an async shell
//! ([`super::driver`]), and the conformance suite drives one directly as an in-memory device on virtual
//! time. Both run the core's one drive loop, [`Device::advance`].

use std::collections::VecDeque;
use std::time::Instant;

use rand_core::RngCore;
use serde_json::{json, Value};

use crate::config::{Credentials, DeviceConfig};
use crate::device::{Device, Until};
use crate::error::Reject;
use crate::event::DeviceEvent;
use crate::handlers::Reply;
use crate::rng::{DeviceRng, Draw, SeededRng};
use crate::runtime::events::{self, EventRecord};
use crate::runtime::options::{
    ControlOp, EndpointEntry, RequestError, RngFactory, SessionRef, SimOptions, Status,
};
use crate::runtime::store::CredentialStore;
use crate::runtime::world::{World, WorldFile};
use crate::wifi::Ap;
use crate::SessionId;

/// What became of a request.
#[derive(Debug)]
pub enum Outcome {
    /// The answer.
    Ready(Vec<u8>),
    /// The answer comes later, from [`Board::take_reply`] (a blocking scan on wall-clock time; on
    /// virtual time only when the device can never answer, e.g. a scan issued after ApplyConfig).
    Deferred,
    /// No answer.
    Failed(RequestError),
}

struct OsRng;

impl DeviceRng for OsRng {
    fn fill(&mut self, _draw: Draw, out: &mut [u8]) {
        rand_core::OsRng.fill_bytes(out);
    }
}

/// A virtual ESP32 board.
pub struct Board {
    config: DeviceConfig,
    world: World,
    /// APs taken off the air through the control channel.
    down: Vec<Ap>,
    store: Option<CredentialStore>,
    /// The credentials a reboot finds when there is no store (this run only).
    memory_creds: Option<Credentials>,
    seed: Option<Vec<u8>>,
    rng: Option<RngFactory>,
    /// Virtual time, when [`SimOptions::virtual_clock`] is set.
    clock: Option<Instant>,
    device: Device,
    boot: u64,
    started: Instant,
    seq: u64,
    history: VecDeque<EventRecord>,
    history_len: usize,
    /// Deferred answers that became ready.
    replies: VecDeque<Result<Vec<u8>, RequestError>>,
}

impl Board {
    /// Power the board on: load the persisted credentials and boot the device.
    pub fn boot(opts: SimOptions) -> Result<Self, String> {
        let stored = match &opts.store {
            Some(s) => s.load().map_err(|e| e.to_string())?,
            None => None,
        };
        let clock = opts.virtual_clock.then(Instant::now);
        let mut board = Self {
            device: Device::new(DeviceConfig::default(), Box::new(OsRng), Instant::now()),
            config: opts.device,
            world: opts.world,
            down: Vec::new(),
            store: opts.store,
            memory_creds: stored.clone(),
            seed: opts.seed,
            rng: opts.rng,
            clock,
            boot: 0,
            started: Instant::now(),
            seq: 0,
            history: VecDeque::new(),
            history_len: opts.event_history,
            replies: VecDeque::new(),
        };
        board.device = board.new_device(stored);
        board.drain();
        Ok(board)
    }

    fn new_device(&self, stored: Option<Credentials>) -> Device {
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

    /// The board's notion of now: virtual or wall-clock.
    pub fn now(&self) -> Instant {
        self.clock.unwrap_or_else(Instant::now)
    }

    /// Boot number (0 first).
    pub fn boot_count(&self) -> u64 {
        self.boot
    }

    /// The device itself (read-only: everything that changes it goes through the board).
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// When the wall-clock driver should call [`Board::on_timer`]; `None` on virtual time, where only
    /// requests and [`ControlOp::Advance`] move the clock.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.clock {
            Some(_) => None,
            None => self.device.poll_timeout(),
        }
    }

    /// Wall-clock time passed: fire what is due.
    pub fn on_timer(&mut self) {
        self.advance(Until::At(self.now()));
    }

    /// One protocomm request in transport session `session`. Returns the session it ran in (a fresh one
    /// gets a random id from the device) and its outcome. A crash reboots the board.
    pub fn request(
        &mut self,
        endpoint: &str,
        session: SessionRef,
        body: &[u8],
    ) -> (SessionId, Outcome) {
        let session = match session {
            SessionRef::Open(id) => id,
            SessionRef::Fresh { replaces } => self.open_fresh_session(replaces),
        };
        let result = self.device.handle(endpoint, session, body, self.now());
        self.drain();
        let outcome = match result {
            Ok(Reply::Ready(out)) => {
                tracing::debug!(%endpoint, session, len = out.len(), "reply");
                Outcome::Ready(out)
            }
            Ok(Reply::Deferred) if self.clock.is_some() => {
                // Virtual time: the handler waits, and time runs to each device timer until it answers.
                tracing::debug!(%endpoint, session, "reply deferred: running virtual time");
                self.advance(Until::Reply);
                match self.replies.pop_front() {
                    Some(Ok(out)) => Outcome::Ready(out),
                    Some(Err(e)) => Outcome::Failed(e),
                    None => Outcome::Deferred,
                }
            }
            Ok(Reply::Deferred) => {
                tracing::debug!(%endpoint, session, "reply deferred");
                Outcome::Deferred
            }
            Err(e) if e.why == Reject::Crashed => {
                tracing::warn!(%endpoint, session, "device crashed on this request: rebooting");
                self.record_body(events::crash());
                if let Err(err) = self.reboot() {
                    tracing::error!(error = %err, "reboot after crash failed");
                }
                Outcome::Failed(RequestError::Rebooted)
            }
            Err(e) => {
                tracing::warn!(%endpoint, session, error = %e, "request failed: no response");
                Outcome::Failed(RequestError::Rejected(e))
            }
        };
        (session, outcome)
    }

    /// A new session under the device's random id, closing `replaces` (`protocomm_httpd` for a request
    /// without a usable cookie). Returns the id.
    pub fn open_fresh_session(&mut self, replaces: Option<SessionId>) -> SessionId {
        if let Some(old) = replaces {
            self.device.close_session(old);
        }
        let id = self.device.open_random_session();
        tracing::debug!(session = id, "new session");
        id
    }

    /// A transport saw a new client session.
    pub fn open_session(&mut self, session: SessionId) {
        tracing::debug!(session, "transport session opened");
        self.device.open_session(session);
    }

    /// A transport saw a client session end.
    pub fn close_session(&mut self, session: SessionId) {
        tracing::debug!(session, "transport session closed");
        self.device.close_session(session);
    }

    /// A deferred answer that became ready.
    pub fn take_reply(&mut self) -> Option<Result<Vec<u8>, RequestError>> {
        self.replies.pop_front()
    }

    /// Runs the device's drive loop and handles what it produced.
    fn advance(&mut self, until: Until) {
        let done = self.device.advance(self.now(), until);
        if self.clock.is_some() {
            self.clock = Some(done.now);
        }
        if let Some(stall) = done.stalled {
            tracing::debug!(?stall, "time could not advance as asked");
        }
        self.replies.extend(
            done.replies
                .into_iter()
                .map(|r| r.map_err(RequestError::Rejected)),
        );
        for e in done.events {
            self.on_event(e);
        }
    }

    /// Handles what the last request produced.
    fn drain(&mut self) {
        while let Some(r) = self.device.poll_reply() {
            self.replies.push_back(r.map_err(RequestError::Rejected));
        }
        while let Some(e) = self.device.poll_event() {
            self.on_event(e);
        }
    }

    fn on_event(&mut self, e: DeviceEvent) {
        self.record_body(events::describe(&e));
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
            _ => {}
        }
    }

    fn record_body(&mut self, body: Value) {
        self.seq += 1;
        let rec = EventRecord {
            seq: self.seq,
            at: self.started.elapsed(),
            boot: self.boot,
            body,
        };
        events::log(&rec);
        if self.history_len == 0 {
            return;
        }
        if self.history.len() >= self.history_len {
            self.history.pop_front();
        }
        self.history.push_back(rec);
    }

    /// Power cycle: sessions and waiting requests are lost, persisted credentials kept.
    fn reboot(&mut self) -> Result<(), String> {
        let stored = match &self.store {
            Some(s) => s.load().map_err(|e| e.to_string())?,
            None => self.memory_creds.clone(),
        };
        self.boot += 1;
        self.replies.clear();
        self.device = self.new_device(stored);
        self.drain();
        Ok(())
    }

    /// What transports watch.
    pub fn status(&self) -> Status {
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

    fn set_world(&mut self) {
        self.device.set_world(self.world.wifi.clone(), self.now());
        self.drain();
    }

    /// A control-channel operation.
    pub fn control(&mut self, op: ControlOp) -> Result<Value, String> {
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
            ControlOp::ApDown(ssid) => self.ap_down(&ssid),
            ControlOp::ApUp(ssid) => self.ap_up(&ssid),
            ControlOp::FailNextConnect(reason) => {
                self.device.fail_next_connect(reason);
                Ok(json!({"next_connect_fails_with": reason.0}))
            }
            ControlOp::Advance(d) => match self.clock {
                Some(now) => {
                    self.advance(Until::At(now + d));
                    Ok(json!({"advanced_ms": d.as_millis()}))
                }
                None => Err("advance needs the virtual clock (SimOptions::virtual_clock)".into()),
            },
        }
    }

    fn ap_down(&mut self, ssid: &str) -> Result<Value, String> {
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

    fn ap_up(&mut self, ssid: &str) -> Result<Value, String> {
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
