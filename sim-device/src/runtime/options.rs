//! The device task's public vocabulary: what it is started with ([`SimOptions`]), what transports watch
//! ([`Status`]), why a request got no reply ([`RequestError`]) and what the control channel may ask
//! ([`ControlOp`]), and which session a request belongs to ([`SessionRef`]). The board is in
//! [`super::board`], the task around it in [`super::driver`].

use std::sync::Arc;
use std::time::Duration;

use crate::config::DeviceConfig;
use crate::error::NoResponse;
use crate::manager::{ServiceState, StationState};
use crate::rng::DeviceRng;
use crate::runtime::store::CredentialStore;
use crate::runtime::world::{World, WorldFile};
use crate::wifi::DisconnectReason;
use crate::SessionId;

/// Makes the device RNG for boot number `boot` (0 first). Lets a harness inject exactly the values a golden
/// vector recorded (e.g. a [`RecordedRng`](crate::RecordedRng) per boot) while requests go through a real
/// transport.
pub type RngFactory = Arc<dyn Fn(u64) -> Box<dyn DeviceRng> + Send + Sync>;

/// Everything the device task needs.
pub struct SimOptions {
    /// Device configuration (its `wifi` and `stored_credentials` are replaced by `world` and `store`).
    pub device: DeviceConfig,
    /// The radio environment.
    pub world: World,
    /// Where credentials persist; `None` keeps them in memory for this run only.
    pub store: Option<CredentialStore>,
    /// A seed for reproducible runs (keys, nonces, cookies); `None` uses OS randomness.
    pub seed: Option<Vec<u8>>,
    /// The device RNG of each boot, instead of `seed`/OS randomness (HTTP session cookies are drawn from
    /// it too, as [`Draw::SessionCookie`](crate::Draw::SessionCookie)).
    pub rng: Option<RngFactory>,
    /// Run on virtual time: the clock stands still except under [`ControlOp::Advance`], and a deferred
    /// reply (a blocking scan) moves it to each device timer until the reply is ready, as the golden
    /// vectors' recorder did. Deterministic replays use it; wall-clock time otherwise.
    pub virtual_clock: bool,
    /// Events the history keeps for the control channel's `GET /events` (oldest dropped first;
    /// [`DEFAULT_HISTORY`]). 0 keeps none: without a control channel nobody can read it, and a full
    /// history is megabytes a load run would count against the simulator.
    pub event_history: usize,
}

/// The event history's default length.
pub const DEFAULT_HISTORY: usize = 10_000;

/// The transport session a request belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionRef {
    /// An open session: a BLE connection, a console session id, a continued HTTP cookie.
    Open(SessionId),
    /// A new session under a random id (`protocomm_httpd` for a request without a usable cookie),
    /// closing the one it replaces.
    Fresh {
        /// The session this client's new one replaces, if any.
        replaces: Option<SessionId>,
    },
}

/// A registered endpoint, as transports address it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointEntry {
    /// Its name: the HTTP path, the console command, the 0x2901 description (`prov-session`).
    pub name: String,
    /// Its BLE id, the characteristic UUID's 16-bit part (spec §4.2.1).
    pub ble_id: u16,
}

/// What transports watch: whether to serve, and under which boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Boot number (0 first).
    pub boot: u64,
    /// The provisioning service runs: the transport should be up.
    pub serving: bool,
    /// Registered endpoints, in registration order.
    pub endpoints: Vec<EndpointEntry>,
    /// Manager state.
    pub service_state: ServiceState,
    /// Station state.
    pub station_state: StationState,
    /// Credentials persisted.
    pub provisioned: bool,
    /// Extra delay a transport adds before each reply.
    pub reply_latency: Duration,
}

/// Why a request got no reply.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The device answered with an error: the transport renders it as spec §4.4 says.
    #[error("{0}")]
    Rejected(NoResponse),
    /// The device rebooted (or the request belonged to an earlier boot).
    #[error("device rebooted")]
    Rebooted,
    /// The device task has ended.
    #[error("device task ended")]
    Gone,
}

/// Run-time operations of the control channel.
#[derive(Debug)]
pub enum ControlOp {
    /// State summary.
    State,
    /// Event records with `seq > since`.
    Events {
        /// Last sequence number already seen.
        since: u64,
    },
    /// Power cycle: sessions lost, credentials kept.
    Reboot,
    /// Erase credentials, then reboot.
    FactoryReset,
    /// The current world, in file form.
    GetWorld,
    /// Replace the world.
    SetWorld(Box<WorldFile>),
    /// Take every AP with this SSID off the air.
    ApDown(String),
    /// Bring APs taken down with [`ControlOp::ApDown`] back.
    ApUp(String),
    /// The next connect attempt fails with this reason.
    FailNextConnect(DisconnectReason),
    /// Virtual clock only: fire every timer due within this interval, in order, then move the clock
    /// to its end.
    Advance(Duration),
}
