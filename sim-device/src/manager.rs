//! The provisioning manager (spec §5.1 station state machine, §6 lifecycle), driving the fake Wi-Fi.
//!
//! Service state: Idle → Started → CredRecv → Fail | Success, back to Started on CtrlReset/CtrlReprov,
//! and Idle again when the service stops. Wi-Fi events change provisioning state only once credentials
//! were received (state ≥ CredRecv), exactly as `manager.c` filters them. All time comes in as `now`.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::config::{Credentials, DeviceConfig, Profile};
use crate::event::{DeviceEvent, ProvEvent, WifiEvent};
use crate::misbehave::{Misbehaviour, Misbehaviours};
use crate::timer::{Timer, Timers};
use crate::wifi::{Ap, ApFault, ConnectFailure, ConnectOutcome, DisconnectReason, WifiWorld};

/// `wifi_prov_mgr` service state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ServiceState {
    /// Not running (before start, after stop, or a provisioned device in station mode).
    Idle,
    /// Running, waiting for credentials.
    Started,
    /// Credentials applied, connecting.
    CredRecv,
    /// Final connection failure.
    Fail,
    /// Connected with an IP address.
    Success,
}

/// The station state GetStatus reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StationState {
    /// Connecting (also the initial state).
    Connecting,
    /// A failed attempt, retrying (`wifi_conn_attempts` > 0).
    ConnAttemptFailed,
    /// Connected.
    Connected,
    /// Final failure.
    Disconnected,
}

/// What GetStatus reports (spec §5.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StatusView {
    Connecting,
    AttemptFailed { remaining: u32 },
    Connected { ip: Ipv4Addr, ap: Ap },
    Failed(ConnectFailure),
}

/// The station's association with an AP (`WIFI_EVENT_STA_CONNECTED` until a disconnect).
#[derive(Clone, Copy, Debug)]
struct Association {
    ap: usize,
    ip: Option<Ipv4Addr>,
}

#[derive(Debug, Default)]
struct Scan {
    running: bool,
    group_channels: u32,
    results: Vec<Ap>,
    /// A blocking ScanStart is waiting; `Some(true)` once its poll saw the scan finished.
    blocking: Option<bool>,
}

/// The manager and the radio it drives.
pub(crate) struct Manager {
    profile: Profile,
    auto_stop: bool,
    auto_stop_timeout: Duration,
    cleanup_delay: Duration,
    apply_delay: Duration,
    conn_attempts: u32,
    scan_max: u32,
    world: WifiWorld,
    misbehave: Misbehaviours,

    service: ServiceState,
    station: StationState,
    fail_reason: ConnectFailure,
    pending: Option<Credentials>,
    sta_config: Option<Credentials>,
    stored: Option<Credentials>,
    attempts_completed: u32,
    connects_this_config: u32,
    in_flight: Option<ConnectOutcome>,
    association: Option<Association>,
    scan: Scan,
    /// A one-shot fault: the next connect attempt fails with this reason (control channel).
    forced_failure: Option<DisconnectReason>,
    done_called: bool,
    timers: Timers,
    events: VecDeque<DeviceEvent>,
}

impl Manager {
    pub(crate) fn new(cfg: &DeviceConfig, now: Instant) -> Self {
        let mut m = Self {
            profile: cfg.profile,
            auto_stop: cfg.auto_stop,
            auto_stop_timeout: cfg.auto_stop_timeout,
            cleanup_delay: cfg.cleanup_delay,
            apply_delay: cfg.apply_delay,
            conn_attempts: cfg.wifi_conn_attempts,
            scan_max: cfg.scan_max_entries.max(1),
            world: cfg.wifi.clone(),
            misbehave: cfg.misbehave.clone(),
            service: ServiceState::Idle,
            station: StationState::Connecting,
            fail_reason: ConnectFailure::AuthError,
            pending: None,
            sta_config: None,
            stored: cfg
                .stored_credentials
                .clone()
                .filter(|c| !c.ssid.is_empty()),
            attempts_completed: 0,
            connects_this_config: 0,
            in_flight: None,
            association: None,
            scan: Scan::default(),
            forced_failure: None,
            done_called: false,
            timers: Timers::default(),
            events: VecDeque::new(),
        };
        if m.stored.is_some() && !cfg.force_provisioning {
            // Provisioned: skip provisioning and join as a plain station (spec §6.3).
            m.sta_config = m.stored.clone();
            m.timers.set(Timer::ApplyDelay, now);
        } else {
            // Start: old credentials stay in flash but are blanked in RAM (spec §6.2).
            m.service = ServiceState::Started;
            m.events.push_back(DeviceEvent::Prov(ProvEvent::Start));
        }
        m
    }

    pub(crate) fn running(&self) -> bool {
        self.service != ServiceState::Idle
    }

    pub(crate) fn service_state(&self) -> ServiceState {
        self.service
    }

    pub(crate) fn station_state(&self) -> StationState {
        self.station
    }

    /// Whether SetConfig staged credentials that no ApplyConfig has taken yet.
    pub(crate) fn staged(&self) -> bool {
        self.pending.is_some()
    }

    pub(crate) fn is_provisioned(&self) -> bool {
        self.stored.is_some()
    }

    pub(crate) fn push_event(&mut self, e: DeviceEvent) {
        self.events.push_back(e);
    }

    pub(crate) fn poll_event(&mut self) -> Option<DeviceEvent> {
        self.events.pop_front()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Factory reset: forget the persisted credentials.
    pub(crate) fn reset_provisioning(&mut self) {
        self.stored = None;
        self.events.push_back(DeviceEvent::EraseCredentials);
    }

    // ---- prov-config -------------------------------------------------------------------------------

    /// GetStatus. A Connected answer tells the manager provisioning is done (auto-stop after the delay).
    pub(crate) fn get_status(&mut self, now: Instant) -> StatusView {
        match self.station {
            StationState::Connecting => StatusView::Connecting,
            StationState::ConnAttemptFailed => StatusView::AttemptFailed {
                remaining: self.conn_attempts.saturating_sub(self.attempts_completed),
            },
            StationState::Disconnected => StatusView::Failed(self.fail_reason),
            StationState::Connected => {
                if self.auto_stop && !self.done_called {
                    self.done_called = true;
                    self.timers.set(Timer::Cleanup, now + self.cleanup_delay);
                }
                // Read from the live interface: after CtrlReprov the station is down, so ESP-IDF reports
                // 0.0.0.0 and an AP record it never filled (zeros here).
                let (ip, ap) = match self.association {
                    Some(Association { ap, ip }) => (
                        ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
                        self.world.aps.get(ap).cloned().unwrap_or_else(blank_ap),
                    ),
                    None => (Ipv4Addr::UNSPECIFIED, blank_ap()),
                };
                StatusView::Connected { ip, ap }
            }
        }
    }

    /// SetConfig: stage credentials (validation is the handler's).
    pub(crate) fn set_pending(&mut self, creds: Credentials) {
        self.pending = Some(creds);
    }

    /// ApplyConfig. `Err(())` = status InternalError.
    pub(crate) fn apply(&mut self, now: Instant) -> Result<(), ()> {
        let creds = self.pending.take().ok_or(())?;
        self.events
            .push_back(DeviceEvent::Prov(ProvEvent::SetStaConfig));
        if matches!(
            self.service,
            ServiceState::CredRecv | ServiceState::Fail | ServiceState::Success
        ) {
            return Err(());
        }
        if self.profile == Profile::NetworkProv12 {
            self.attempts_completed = 0;
        }
        self.drop_association();
        self.connects_this_config = 0;
        self.events
            .push_back(DeviceEvent::StoreCredentials(creds.clone()));
        self.stored = Some(creds.clone()).filter(|c| !c.ssid.is_empty());
        self.events
            .push_back(DeviceEvent::Prov(ProvEvent::CredRecv {
                ssid: creds.ssid.clone(),
            }));
        self.sta_config = Some(creds);
        self.timers.set(Timer::ApplyDelay, now + self.apply_delay);
        // Misbehaviour `stale-status-after-reset`: keep the failure CtrlReset/CtrlReprov left standing
        // (nothing else can leave the station Disconnected here).
        if !(self.misbehaves(Misbehaviour::StaleStatusAfterReset)
            && self.station == StationState::Disconnected)
        {
            self.station = StationState::Connecting;
        }
        self.service = ServiceState::CredRecv;
        Ok(())
    }

    // ---- prov-ctrl ---------------------------------------------------------------------------------

    /// CtrlReset: only after a failure (network_provisioning ≥ 1.2.1 also in STARTED).
    pub(crate) fn ctrl_reset(&mut self) -> Result<(), ()> {
        let allowed = self.service == ServiceState::Fail
            || (self.profile == Profile::NetworkProv12 && self.service == ServiceState::Started);
        if !allowed {
            return Err(());
        }
        if self.profile == Profile::NetworkProv12 {
            self.attempts_completed = 0;
        }
        self.sta_config = None;
        self.drop_association();
        // The station state is deliberately left alone: GetStatus keeps the old failure until the next apply.
        self.service = ServiceState::Started;
        Ok(())
    }

    /// CtrlReprov: only with auto-stop disabled.
    pub(crate) fn ctrl_reprov(&mut self) -> Result<(), ()> {
        if self.auto_stop {
            return Err(());
        }
        self.sta_config = None;
        if self.association.is_some() {
            self.events
                .push_back(DeviceEvent::Wifi(WifiEvent::Disconnected(
                    DisconnectReason(8),
                )));
        }
        self.drop_association();
        self.done_called = false;
        self.service = ServiceState::Started;
        self.events.push_back(DeviceEvent::Prov(ProvEvent::Start));
        Ok(())
    }

    // ---- prov-scan ---------------------------------------------------------------------------------

    /// ScanStart. Returns whether a blocking caller must wait.
    pub(crate) fn scan_start(&mut self, now: Instant, blocking: bool, group_channels: u32) -> bool {
        if self.scan.running {
            return false;
        }
        self.scan.results.clear();
        self.scan.running = true;
        self.scan.group_channels = group_channels;
        self.events
            .push_back(DeviceEvent::Wifi(WifiEvent::ScanStarted { group_channels }));
        self.timers.set(
            Timer::ScanDone,
            now + self.world.scan_duration(group_channels),
        );
        if blocking {
            self.scan.blocking = Some(false);
            self.timers.set(Timer::ScanPoll, now + SCAN_POLL);
        }
        blocking
    }

    /// `(scan_finished, result_count)`.
    pub(crate) fn scan_status(&self) -> (bool, u32) {
        (!self.scan.running, self.scan.results.len() as u32)
    }

    pub(crate) fn scan_results(&self) -> &[Ap] {
        &self.scan.results
    }

    pub(crate) fn scan_max(&self) -> u32 {
        self.scan_max
    }

    /// Whether a blocking ScanStart's poll has seen the scan finish (clears the flag).
    pub(crate) fn take_blocking_scan_done(&mut self) -> bool {
        if self.scan.blocking == Some(true) {
            self.scan.blocking = None;
            true
        } else {
            false
        }
    }

    // ---- time --------------------------------------------------------------------------------------

    /// Fire every timer due at or before `now`, in order.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        // Bounded: each firing either disarms a timer or re-arms it strictly later than `when`.
        for _ in 0..10_000 {
            let Some((timer, when)) = self.timers.pop_expired(now) else {
                return;
            };
            self.fire(timer, when);
        }
    }

    fn fire(&mut self, timer: Timer, at: Instant) {
        match timer {
            Timer::ScanPoll => {
                if self.scan.running {
                    self.timers.set(Timer::ScanPoll, at + SCAN_POLL);
                } else if self.scan.blocking.is_some() {
                    self.scan.blocking = Some(true);
                }
            }
            Timer::ScanDone => {
                // Scan-done is processed only while waiting for credentials: a scan started after
                // ApplyConfig never completes (spec §5.2).
                if self.service == ServiceState::Started {
                    self.scan.results = self.world.scan(self.scan_max as usize);
                    self.scan.running = false;
                    let count = self.scan.results.len();
                    self.events
                        .push_back(DeviceEvent::Wifi(WifiEvent::ScanDone { count }));
                }
            }
            Timer::ApplyDelay => self.start_connect(at),
            Timer::ConnectResolve => match self.in_flight.take() {
                Some(ConnectOutcome::Associated { index, dhcp }) => {
                    self.association = Some(Association {
                        ap: index,
                        ip: None,
                    });
                    self.events
                        .push_back(DeviceEvent::Wifi(WifiEvent::Associated));
                    if dhcp {
                        self.timers.set(Timer::GotIp, at + self.world.timing.dhcp);
                    }
                }
                Some(ConnectOutcome::Failed(reason)) => self.on_disconnected(reason, at),
                None => {}
            },
            Timer::GotIp => self.on_got_ip(at),
            Timer::ApVanish => {
                // The AP is gone from the air: later scans and reconnects no longer find it.
                if let Some(assoc) = self.association.take() {
                    if assoc.ap < self.world.aps.len() {
                        self.world.aps.remove(assoc.ap);
                    }
                }
                self.on_disconnected(DisconnectReason::BEACON_TIMEOUT, at);
            }
            Timer::Cleanup | Timer::AutoStop => self.stop(),
        }
    }

    fn start_connect(&mut self, now: Instant) {
        let Some(cfg) = &self.sta_config else { return };
        let outcome = match self.forced_failure.take() {
            Some(reason) => ConnectOutcome::Failed(reason),
            None => self
                .world
                .connect(&cfg.ssid, &cfg.passphrase, self.connects_this_config),
        };
        self.connects_this_config += 1;
        self.events
            .push_back(DeviceEvent::Wifi(WifiEvent::Connecting {
                ssid: cfg.ssid.clone(),
            }));
        self.in_flight = Some(outcome);
        self.timers
            .set(Timer::ConnectResolve, now + self.world.timing.connect);
    }

    fn wifi_events_apply(&self) -> bool {
        self.service >= ServiceState::CredRecv
    }

    fn on_got_ip(&mut self, now: Instant) {
        let ip = self.world.ip_on_connect;
        let Some(assoc) = &mut self.association else {
            return;
        };
        assoc.ip = Some(ip);
        let ap = assoc.ap;
        self.events
            .push_back(DeviceEvent::Wifi(WifiEvent::GotIp(ip)));
        if let Some(ApFault::VanishAfter { after }) = self.world.aps.get(ap).and_then(|a| a.fault) {
            self.timers.set(Timer::ApVanish, now + after);
        }
        if !self.wifi_events_apply() {
            return;
        }
        self.station = StationState::Connected;
        self.service = ServiceState::Success;
        if self.auto_stop {
            self.timers
                .set(Timer::AutoStop, now + self.auto_stop_timeout);
        }
        self.events
            .push_back(DeviceEvent::Prov(ProvEvent::CredSuccess));
    }

    fn on_disconnected(&mut self, reason: DisconnectReason, now: Instant) {
        self.association = None;
        self.events
            .push_back(DeviceEvent::Wifi(WifiEvent::Disconnected(reason)));
        if !self.running() {
            // Plain station mode: keep trying, as the example application does.
            self.timers.set(Timer::ApplyDelay, now + self.apply_delay);
            return;
        }
        if !self.wifi_events_apply() {
            return;
        }
        let mapped = reason.failure();
        if self.conn_attempts == 0 {
            self.service = ServiceState::Fail;
            match mapped {
                Some(f) => self.final_failure(f),
                None => {
                    // Unmapped reason: endless retry; GetStatus keeps saying Connecting (spec §5.1).
                    self.station = StationState::Connecting;
                    self.start_connect(now);
                }
            }
            return;
        }
        self.attempts_completed += 1;
        if let Some(f) = mapped {
            self.fail_reason = f;
        }
        if self.attempts_completed < self.conn_attempts {
            self.station = StationState::ConnAttemptFailed;
            self.start_connect(now);
        } else {
            self.service = ServiceState::Fail;
            let f = self.fail_reason;
            self.final_failure(f);
        }
    }

    fn final_failure(&mut self, f: ConnectFailure) {
        self.fail_reason = f;
        self.station = StationState::Disconnected;
        self.events
            .push_back(DeviceEvent::Prov(ProvEvent::CredFail(f)));
    }

    fn drop_association(&mut self) {
        for t in [
            Timer::ApplyDelay,
            Timer::ConnectResolve,
            Timer::GotIp,
            Timer::ApVanish,
        ] {
            self.timers.cancel(t);
        }
        self.in_flight = None;
        self.association = None;
    }

    /// Stop the service: endpoints removed, transport stopped; the station stays connected.
    fn stop(&mut self) {
        if !self.running() {
            return;
        }
        self.service = ServiceState::Idle;
        for t in [
            Timer::Cleanup,
            Timer::AutoStop,
            Timer::ScanDone,
            Timer::ScanPoll,
        ] {
            self.timers.cancel(t);
        }
        self.scan = Scan::default();
        self.events.push_back(DeviceEvent::TransportStop);
        self.events.push_back(DeviceEvent::Prov(ProvEvent::End));
    }
}

/// The blocking scan handler's poll period.
const SCAN_POLL: Duration = Duration::from_millis(120);

fn blank_ap() -> Ap {
    Ap {
        ssid: Vec::new(),
        bssid: [0; 6],
        channel: 0,
        rssi: 0,
        auth: 0,
        password: Vec::new(),
        hidden: false,
        fault: None,
    }
}

impl Manager {
    pub(crate) fn profile(&self) -> Profile {
        self.profile
    }

    /// Whether the deliberate defect `m` is on.
    pub(crate) fn misbehaves(&self, m: Misbehaviour) -> bool {
        self.misbehave.contains(&m)
    }

    pub(crate) fn world(&self) -> &WifiWorld {
        &self.world
    }

    /// Make the next connect attempt fail with `reason`, whatever the AP table says.
    pub(crate) fn fail_next_connect(&mut self, reason: DisconnectReason) {
        self.forced_failure = Some(reason);
    }

    /// Replace the radio environment at run time. A station associated with an AP that is no longer on the air
    /// (same SSID and BSSID) loses it with `WIFI_REASON_BEACON_TIMEOUT`, as when a real AP powers off.
    pub(crate) fn set_world(&mut self, world: WifiWorld, now: Instant) {
        let key = |w: &WifiWorld, i: usize| w.aps.get(i).map(|ap| (ap.ssid.clone(), ap.bssid));
        let find = |w: &WifiWorld, k: &(Vec<u8>, [u8; 6])| {
            w.aps
                .iter()
                .position(|ap| ap.ssid == k.0 && ap.bssid == k.1)
        };
        let associated = self.association.and_then(|l| key(&self.world, l.ap));
        // An association decided before the change re-targets its AP, or finds it gone.
        if let Some(ConnectOutcome::Associated { index, dhcp }) = self.in_flight {
            let moved = key(&self.world, index).and_then(|k| find(&world, &k));
            self.in_flight = Some(match moved {
                Some(index) => ConnectOutcome::Associated { index, dhcp },
                None => ConnectOutcome::Failed(DisconnectReason::NO_AP_FOUND),
            });
        }
        self.world = world;
        let Some((ssid, bssid)) = associated else {
            return;
        };
        let still = find(&self.world, &(ssid, bssid));
        match (still, &mut self.association) {
            (Some(index), Some(assoc)) => assoc.ap = index,
            _ => {
                self.timers.cancel(Timer::ApVanish);
                self.on_disconnected(DisconnectReason::BEACON_TIMEOUT, now);
            }
        }
    }
}
