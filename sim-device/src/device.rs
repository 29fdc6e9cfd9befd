//! [`Device`]: the whole virtual ESP32 behind one sans-IO API.
//!
//! Method families (quinn's `Connection`):
//! - input: [`Device::handle`] (a request), [`Device::advance`] (time passes),
//!   [`Device::open_session`] / [`Device::open_random_session`] / [`Device::close_session`] (transport
//!   session changes);
//! - output: [`Device::poll_event`] and [`Device::poll_reply`] (after a request), [`Device::poll_timeout`];
//! - getters: state, endpoints, version string.
//!
//! The drive loop, whoever runs it (the runtime's device task on wall-clock or virtual time, the vector
//! replay, the conformance suite's in-memory device): after [`Device::handle`] drain `poll_reply` and
//! `poll_event`; when time passes call [`Device::advance`], which fires the timers in order and returns
//! what they produced; arm one timer at `poll_timeout`. The device never reads a clock or OS randomness:
//! `now` and the [`DeviceRng`] come from the caller.

use std::collections::VecDeque;
use std::time::Instant;

use crate::config::DeviceConfig;
use crate::error::{NoResponse, Reject};
use crate::event::DeviceEvent;
use crate::handlers::Reply;
use crate::manager::{Manager, ServiceState, StationState};
use crate::protocomm::{Endpoint, Protocomm};
use crate::rng::{DeviceRng, Draw};
use crate::wifi::{DisconnectReason, WifiWorld};
use crate::SessionId;

/// Upper bound on timer expiries in one [`Device::advance`]: a device that keeps re-arming timers
/// without progress is reported as stalled instead of looping forever.
pub const MAX_EXPIRIES: usize = 10_000;

/// How far [`Device::advance`] moves time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// To this instant: every timer due at or before it fires, in order.
    At(Instant),
    /// Timer by timer until the deferred reply is ready (a blocking scan), as the firmware's handler
    /// task would wait for it.
    Reply,
}

/// Why [`Device::advance`] stopped short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stall {
    /// [`Until::Reply`] with no timer armed: the reply can never arrive (e.g. a blocking scan issued
    /// after ApplyConfig, spec §5.2).
    NoTimer,
    /// More than [`MAX_EXPIRIES`] timer expiries.
    TooManyExpiries,
}

/// What [`Device::advance`] did.
#[derive(Debug)]
#[must_use]
pub struct Advanced {
    /// The device's time afterwards.
    pub now: Instant,
    /// Timer expiries processed.
    pub expiries: usize,
    /// What happened, in order.
    pub events: Vec<DeviceEvent>,
    /// Deferred replies that became ready.
    pub replies: Vec<Result<Vec<u8>, NoResponse>>,
    /// Set when time could not move as asked.
    pub stalled: Option<Stall>,
}

/// A virtual ESP32 running the provisioning manager.
pub struct Device {
    protocomm: Protocomm,
    manager: Manager,
    rng: Box<dyn DeviceRng>,
    replies: VecDeque<Result<Vec<u8>, NoResponse>>,
    /// The firmware crashed on a request; only a reboot (a new `Device`) brings it back.
    crashed: bool,
}

impl Device {
    /// Boot the device at `now`. An unprovisioned device starts provisioning at once; a provisioned one
    /// (non-empty stored SSID) joins its network as a station and serves no endpoints.
    pub fn new(config: DeviceConfig, rng: Box<dyn DeviceRng>, now: Instant) -> Self {
        Self {
            protocomm: Protocomm::new(&config),
            manager: Manager::new(&config, now),
            rng,
            replies: VecDeque::new(),
            crashed: false,
        }
    }

    /// `protocomm_req_handle()` for one request on `endpoint` from transport session `session`.
    ///
    /// Timers due at or before `now` fire first. Fails with [`NoResponse`] exactly where ESP-IDF returns an
    /// error; a transport renders that as its profile says (spec §4.4). [`Reject::Crashed`] means the
    /// firmware crashed on this request: the driver must reboot the device (a new `Device` with the
    /// persisted credentials), as a chip resets after a panic.
    pub fn handle(
        &mut self,
        endpoint: &str,
        session: SessionId,
        request: &[u8],
        now: Instant,
    ) -> Result<Reply, NoResponse> {
        if self.crashed {
            return Err(Reject::Crashed.into());
        }
        self.handle_timeout(now);
        if !self.manager.running() {
            return Err(Reject::ServiceStopped.into());
        }
        let reply = self.protocomm.req_handle(
            &mut self.manager,
            self.rng.as_mut(),
            endpoint,
            session,
            request,
            now,
        );
        if matches!(&reply, Err(e) if e.why == Reject::Crashed) {
            self.crashed = true;
        }
        reply
    }

    /// `new_transport_session`: the transport saw a new client session (BLE connect, console id change).
    /// Closes the previous secure session.
    pub fn open_session(&mut self, session: SessionId) {
        self.protocomm.open_session(session);
    }

    /// A new transport session under a random id, as `protocomm_httpd` opens one for a request without
    /// a usable cookie (`esp_random()`, drawn as [`Draw::SessionCookie`]). Returns the id.
    pub fn open_random_session(&mut self) -> SessionId {
        let mut id = [0u8; 4];
        self.rng.fill(Draw::SessionCookie, &mut id);
        let id = u32::from_le_bytes(id);
        self.protocomm.open_session(id);
        id
    }

    /// `close_transport_session`: the client went away (BLE disconnect). Only the open session closes.
    pub fn close_session(&mut self, session: SessionId) {
        self.protocomm.close_session(session);
    }

    /// The id of the open secure session, if any.
    pub fn session(&self) -> Option<SessionId> {
        self.protocomm.session_id()
    }

    /// Move time forward from `now` as `until` says, firing each due timer at its own instant, in order,
    /// and return what that produced (events and deferred replies, including any still queued).
    pub fn advance(&mut self, now: Instant, until: Until) -> Advanced {
        let mut out = Advanced {
            now,
            expiries: 0,
            events: Vec::new(),
            replies: Vec::new(),
            stalled: None,
        };
        loop {
            out.replies.extend(self.replies.drain(..));
            out.events
                .extend(std::iter::from_fn(|| self.manager.poll_event()));
            if until == Until::Reply && (!out.replies.is_empty() || !self.is_busy()) {
                break;
            }
            let next = self.poll_timeout();
            let at = match (until, next) {
                (Until::At(end), Some(t)) if t <= end => t,
                (Until::At(_), _) => break,
                (Until::Reply, Some(t)) => t,
                (Until::Reply, None) => {
                    out.stalled = Some(Stall::NoTimer);
                    break;
                }
            };
            if out.expiries == MAX_EXPIRIES {
                out.stalled = Some(Stall::TooManyExpiries);
                break;
            }
            out.now = out.now.max(at);
            self.handle_timeout(out.now);
            out.expiries += 1;
        }
        if let Until::At(end) = until {
            out.now = out.now.max(end);
        }
        out
    }

    /// Fire the timers due at or before `now` and collect a deferred reply they complete.
    fn handle_timeout(&mut self, now: Instant) {
        self.manager.handle_timeout(now);
        if let Some(reply) = self.protocomm.poll_deferred(&mut self.manager) {
            self.replies.push_back(reply);
        }
    }

    /// A deferred reply that became ready as a side effect of [`Device::handle`] (its timers fire first).
    #[must_use]
    pub fn poll_reply(&mut self) -> Option<Result<Vec<u8>, NoResponse>> {
        self.replies.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<DeviceEvent> {
        self.manager.poll_event()
    }

    /// When [`Device::advance`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.manager.poll_timeout()
    }

    /// Whether a request is waiting for a deferred reply. While busy, other requests get
    /// [`Reject::Busy`]: ESP-IDF's transport task is blocked in the handler. A blocking scan started after
    /// ApplyConfig never completes (spec §5.2), so such a device stays busy, as a real one does.
    pub fn is_busy(&self) -> bool {
        self.protocomm.is_busy()
    }

    /// Whether the firmware crashed (a request answered [`Reject::Crashed`]): it needs a reboot.
    pub fn crashed(&self) -> bool {
        self.crashed
    }

    /// Whether the provisioning service runs (endpoints answer).
    pub fn is_running(&self) -> bool {
        !self.crashed && self.manager.running()
    }

    /// Manager service state.
    pub fn service_state(&self) -> ServiceState {
        self.manager.service_state()
    }

    /// Station state as GetStatus reports it.
    pub fn station_state(&self) -> StationState {
        self.manager.station_state()
    }

    /// Whether SetConfig staged credentials that no ApplyConfig has taken yet.
    pub fn staged(&self) -> bool {
        self.manager.staged()
    }

    /// How many scan results the device holds (they stay until the next ScanStart, spec §5.2).
    pub fn scan_results(&self) -> usize {
        self.manager.scan_results().len()
    }

    /// Whether credentials are persisted (spec §6.3).
    pub fn is_provisioned(&self) -> bool {
        self.manager.is_provisioned()
    }

    /// Factory reset: erase persisted credentials (emits [`DeviceEvent::EraseCredentials`]).
    pub fn reset_provisioning(&mut self) {
        self.manager.reset_provisioning();
    }

    /// Registered endpoints in BLE id order.
    pub fn endpoints(&self) -> &[Endpoint] {
        self.protocomm.endpoints()
    }

    /// The radio environment as the device sees it now.
    pub fn world(&self) -> &WifiWorld {
        self.manager.world()
    }

    /// Change the radio environment at `now` (an AP powers off, a new one appears). A station whose AP left
    /// the air disconnects with `WIFI_REASON_BEACON_TIMEOUT`.
    pub fn set_world(&mut self, world: WifiWorld, now: Instant) {
        self.handle_timeout(now);
        self.manager.set_world(world, now);
    }

    /// Make the next connect attempt fail with `reason` (one shot), e.g. to test a retry path.
    pub fn fail_next_connect(&mut self, reason: DisconnectReason) {
        self.manager.fail_next_connect(reason);
    }

    /// The `proto-ver` JSON.
    pub fn version_json(&self) -> &[u8] {
        self.protocomm.version()
    }
}
