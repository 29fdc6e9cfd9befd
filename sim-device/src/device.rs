//! [`Device`]: the whole virtual ESP32 behind one sans-IO API.
//!
//! Method families (quinn's `Connection`):
//! - input: [`Device::handle`] (a request), [`Device::handle_timeout`] (time passed),
//!   [`Device::open_session`] / [`Device::close_session`] (transport session changes);
//! - output: [`Device::poll_reply`] (a deferred reply), [`Device::poll_event`], [`Device::poll_timeout`];
//! - getters: state, endpoints, version string.
//!
//! After every input, drain `poll_reply` and `poll_event`, then arm one timer at `poll_timeout`. The
//! device never reads a clock or OS randomness: `now` and the [`DeviceRng`] come from the caller.

use std::collections::VecDeque;
use std::time::Instant;

use crate::config::DeviceConfig;
use crate::error::{NoResponse, Reject};
use crate::event::DeviceEvent;
use crate::handlers;
use crate::manager::{Manager, ServiceState, StationState};
use crate::protocomm::{Endpoint, Protocomm, Reply};
use crate::rng::DeviceRng;
use crate::wifi::{DisconnectReason, WifiWorld};
use crate::SessionId;

/// A virtual ESP32 running the provisioning manager.
pub struct Device {
    protocomm: Protocomm,
    manager: Manager,
    rng: Box<dyn DeviceRng>,
    /// The session a deferred reply will be encrypted for.
    deferred: Option<SessionId>,
    replies: VecDeque<Result<Vec<u8>, NoResponse>>,
}

impl Device {
    /// Boot the device at `now`. An unprovisioned device starts provisioning at once; a provisioned one
    /// (non-empty stored SSID) joins its network as a station and serves no endpoints.
    pub fn new(config: DeviceConfig, rng: Box<dyn DeviceRng>, now: Instant) -> Self {
        Self {
            protocomm: Protocomm::new(&config),
            manager: Manager::new(&config, now),
            rng,
            deferred: None,
            replies: VecDeque::new(),
        }
    }

    /// `protocomm_req_handle()` for one request on `endpoint` from transport session `session`.
    ///
    /// Timers due at or before `now` fire first. Fails with [`NoResponse`] exactly where ESP-IDF returns an
    /// error; a transport renders that as its profile says (spec §4.4).
    pub fn handle(
        &mut self,
        endpoint: &str,
        session: SessionId,
        request: &[u8],
        now: Instant,
    ) -> Result<Reply, NoResponse> {
        self.handle_timeout(now);
        if !self.manager.running() {
            return Err(Reject::ServiceStopped.into());
        }
        if self.deferred.is_some() {
            return Err(Reject::Busy.into());
        }
        let reply = self.protocomm.handle(
            &mut self.manager,
            self.rng.as_mut(),
            endpoint,
            session,
            request,
            now,
        )?;
        if reply == Reply::Deferred {
            self.deferred = Some(session);
        }
        Ok(reply)
    }

    /// `new_transport_session`: the transport saw a new client session (BLE connect, new HTTP cookie,
    /// console id change). Closes the previous secure session.
    pub fn open_session(&mut self, session: SessionId) {
        self.protocomm.security.open_session(session);
    }

    /// `close_transport_session`: the client went away (BLE disconnect). Only the open session closes.
    pub fn close_session(&mut self, session: SessionId) {
        self.protocomm.security.close_session(session);
    }

    /// The id of the open secure session, if any.
    pub fn session(&self) -> Option<SessionId> {
        self.protocomm.security.session_id()
    }

    /// Advance the device to `now`, firing due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.manager.handle_timeout(now);
        if let Some(session) = self.deferred {
            if self.manager.take_blocking_scan_done() {
                self.deferred = None;
                let plain = handlers::scan::scan_start_response();
                self.replies
                    .push_back(self.protocomm.security.encrypt(session, &plain));
            } else if !self.manager.running() {
                // The service stopped under a waiting request: the transport is gone.
                self.deferred = None;
                self.replies.push_back(Err(Reject::ServiceStopped.into()));
            }
        }
    }

    /// The next deferred reply, once ready.
    #[must_use]
    pub fn poll_reply(&mut self) -> Option<Result<Vec<u8>, NoResponse>> {
        self.replies.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<DeviceEvent> {
        self.manager.poll_event()
    }

    /// When [`Device::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.manager.poll_timeout()
    }

    /// Whether a request is waiting for a deferred reply. While busy, other requests get
    /// [`Reject::Busy`]: ESP-IDF's transport task is blocked in the handler. A blocking scan started after
    /// ApplyConfig never completes (spec §5.2), so such a device stays busy, as a real one does.
    pub fn is_busy(&self) -> bool {
        self.deferred.is_some()
    }

    /// Whether the provisioning service runs (endpoints answer).
    pub fn is_running(&self) -> bool {
        self.manager.running()
    }

    /// Manager service state.
    pub fn service_state(&self) -> ServiceState {
        self.manager.service_state()
    }

    /// Station state as GetStatus reports it.
    pub fn station_state(&self) -> StationState {
        self.manager.station_state()
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
