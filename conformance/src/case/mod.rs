//! A conformance case: a stable ID, a group, a title, when it applies, which device it needs, and a
//! body that drives a link and states expectations. [`Ctx`] gives case bodies the protocol steps they
//! share (handshake, encrypted calls, Wi-Fi status polling, waiting), all recorded for the report.
//!
//! The catalogue's cases and the golden replays are the same kind of thing: a golden scenario is a case
//! whose device is booted from its recording ([`Boot::Recording`]).

mod ctx;

use std::sync::Arc;

use prost::Message;
use proto::wifi_prov::WiFiConfigPayload;

pub use self::ctx::{Ctx, Deadline};
use crate::description::Description;
use crate::dut::Boot;
use crate::link::{LinkError, Transport};
use prov_client::{ClientError, Profile};

/// Why a case body stopped early.
#[derive(Debug)]
pub enum Stop {
    /// An expectation failed.
    Fail(String),
    /// The case found out it does not apply (e.g. the device has no such network).
    Skip(String),
}

impl From<LinkError> for Stop {
    fn from(e: LinkError) -> Self {
        Self::Fail(e.to_string())
    }
}

impl From<ClientError> for Stop {
    fn from(e: ClientError) -> Self {
        Self::Fail(format!("client: {e}"))
    }
}

/// A case body's result.
pub type Step<T> = Result<T, Stop>;

/// Fails the case with a formatted message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::case::Stop::Fail(format!($($arg)+)));
        }
    };
}

/// Catalogue groups, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    /// `proto-ver` and capabilities.
    Version,
    /// `prov-session` handshakes.
    Session,
    /// Encrypted data phase.
    Data,
    /// `prov-config`: SetConfig / ApplyConfig / GetStatus.
    Config,
    /// `prov-scan`.
    Scan,
    /// `prov-ctrl`.
    Ctrl,
    /// Application endpoints.
    Custom,
    /// The negative corpus of spec §7.
    Negative,
    /// HTTP (SoftAP) transport semantics.
    Http,
    /// Console line protocol.
    Console,
    /// BLE GATT transport.
    Ble,
    /// Golden vector replay.
    Golden,
}

impl Group {
    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Version => "version",
            Self::Session => "session",
            Self::Data => "data",
            Self::Config => "config",
            Self::Scan => "scan",
            Self::Ctrl => "ctrl",
            Self::Custom => "custom",
            Self::Negative => "negative",
            Self::Http => "http",
            Self::Console => "console",
            Self::Ble => "ble",
            Self::Golden => "golden",
        }
    }
}

/// When a case applies: `Some(reason)` when it does not.
pub type Applies = Arc<dyn Fn(&Env<'_>) -> Option<String> + Send + Sync>;

/// A case body.
pub type Body = Arc<dyn Fn(&mut Ctx<'_>) -> Step<()> + Send + Sync>;

impl Group {
    /// A case of this group that leaves the device as it found it.
    pub fn case(
        self,
        id: &'static str,
        title: &'static str,
        applies: fn(&Env<'_>) -> Option<String>,
        run: fn(&mut Ctx<'_>) -> Step<()>,
    ) -> Case {
        Case {
            id: id.to_owned(),
            group: self,
            title: title.to_owned(),
            applies: Arc::new(applies),
            leaves: Leaves::Nothing,
            boot: Boot::Standard,
            run: Arc::new(run),
        }
    }
}

/// What a case leaves behind on a device that keeps its state, least to most. Declared per case and
/// checked against the simulator (`conformance/tests/state.rs`); the runner orders cases by it on such
/// devices and resets (or stops judging) after the ones that change the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Leaves {
    /// The device as it found it (a fresh handshake works the same afterwards).
    #[default]
    Nothing,
    /// Scan results (they stay until the next ScanStart, spec §5.2).
    Scanned,
    /// Credentials staged by SetConfig that a later ApplyConfig would take (spec §5.1).
    Staged,
    /// ApplyConfig taken: the station connects, failed, or is provisioned (persisted credentials).
    Applied,
    /// The provisioning service stopped (auto-stop after success, or a crash that did not recover).
    Stopped,
}

impl Leaves {
    /// Name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Nothing => "nothing",
            Self::Scanned => "scan results",
            Self::Staged => "staged credentials",
            Self::Applied => "applied credentials",
            Self::Stopped => "a stopped service",
        }
    }
}

impl Case {
    /// The same case, declared to leave `what` behind.
    pub fn leaves(self, what: Leaves) -> Self {
        Self {
            leaves: what,
            ..self
        }
    }
}

/// What a case may look at before it runs.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    /// The device description.
    pub desc: &'a Description,
    /// Expectations profile.
    pub profile: Profile,
    /// Transport of the column.
    pub transport: Transport,
    /// Security scheme of the column.
    pub security: u8,
    /// The device can be booted from a golden recording (byte-exact replay).
    pub recordings: bool,
}

/// One catalogue entry.
#[derive(Clone)]
pub struct Case {
    /// Stable ID, e.g. `SEC1-POP-WRONG` or `GOLDEN-sec1_full_flow`.
    pub id: String,
    /// Group.
    pub group: Group,
    /// One line: what is checked.
    pub title: String,
    /// `Some(reason)` when the case does not apply to a column.
    pub applies: Applies,
    /// What the case leaves behind: on devices that are not fresh per connection cases run in this
    /// order, and the device is reset (where it can be) after any that leaves something.
    pub leaves: Leaves,
    /// The device the case needs.
    pub boot: Boot,
    /// The body.
    pub run: Body,
}

/// Applies everywhere.
pub fn always(_: &Env<'_>) -> Option<String> {
    None
}

/// Applies to Security 1 and 2 (the schemes with a handshake and encryption).
pub fn secure(env: &Env<'_>) -> Option<String> {
    (env.security == 0).then(|| "Security 0 has no handshake or encryption".into())
}

/// Applies to Security `n` only.
pub fn only_sec(env: &Env<'_>, n: u8) -> Option<String> {
    (env.security != n).then(|| format!("Security {n} only"))
}

/// Applies where a session can be established over this transport: over a console whose line is too
/// short for Security 2's Command0 (ESP-IDF's 255 characters; the device file's `[console] line_max`),
/// it cannot.
pub fn session_possible(env: &Env<'_>) -> Option<String> {
    if env.security != 2 || !env.transport.is_line_protocol() {
        return None;
    }
    let user = env.desc.username.clone().unwrap_or_default();
    let command0 =
        prov_client::sec2::command0_bytes(user.as_bytes(), &[0; prov_client::srp::N_LEN]);
    let needed = "prov-session 0 ".len() + 2 * command0.len();
    let max = env.desc.line_max()?;
    (needed > max).then(|| {
        format!(
            "Security 2 cannot run over this console: Command0 needs a {needed}-character line and the line holds {max} (spec §4.3.1; set `[console] line_max` if the device takes longer lines)"
        )
    })
}

/// Applies where an empty request body reaches protocomm or is refused: not NimBLE, which accepts an
/// empty write without calling protocomm and keeps the stored value (spec §4.2.3).
pub fn empty_body_judged(env: &Env<'_>) -> Option<String> {
    (env.transport == Transport::Ble
        && env.desc.ble.stack == Some(crate::description::BleStack::Nimble))
    .then(|| {
        "NimBLE accepts an empty write without calling protocomm; the read returns the stored value (spec §4.2.3)"
            .into()
    })
}

/// Decodes a `prov-config` response.
pub fn config_payload(p: &[u8]) -> Step<WiFiConfigPayload> {
    WiFiConfigPayload::decode(p).map_err(|e| {
        Stop::Fail(format!(
            "prov-config response is not a WiFiConfigPayload ({e}): {}",
            short_hex(p)
        ))
    })
}

/// Hex of at most 64 bytes, for messages.
pub fn short_hex(b: &[u8]) -> String {
    if b.len() <= 64 {
        hex::encode(b)
    } else {
        format!("{}… ({} bytes)", hex::encode(&b[..64]), b.len())
    }
}
