//! A fake `bluetoothd` for machines with no Bluetooth: it owns `org.bluez` on a private
//! dbus-daemon and bridges BlueZ GATT peripheral applications (registered with
//! `GattManager1`/`LEAdvertisingManager1`, e.g. by `bluer`) to centrals (`bluer`, `bleak`,
//! esp_prov) that discover, connect, read, write and subscribe through the usual
//! `Adapter1`/`Device1`/`GattCharacteristic1` objects.
//!
//! The D-Bus contract and its pitfalls are in `shared/spec/BLE-TESTBED.md` (§3.4, §6, §7).
//!
//! Two ways in:
//! - [`Testbed::start`] spawns a private `dbus-daemon`, runs the loopback on its own thread and
//!   returns once `org.bluez` is owned. Give children [`Testbed::bus_address`] in
//!   `DBUS_SYSTEM_BUS_ADDRESS`.
//! - [`serve`] attaches the loopback to an existing bus.

mod adv;
mod introspect;
mod service;
mod testbed;
mod values;

pub use testbed::Testbed;

/// Loopback configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// ATT MTU of every link. A read answer is cut to `mtu - 1` bytes, so long values become
    /// `ReadValue{offset}` calls (use 23 to force offset reads, as phones do before the MTU
    /// exchange). Must be at least 23.
    pub mtu: u16,
    /// Adapter names, e.g. `["hci0", "hci1"]`. Every adapter sees every advertisement (unless
    /// [`Options::hide_own_adapter`]).
    pub adapters: Vec<String>,
    /// Hide a peripheral's advertisement from the adapter it advertises on (pitfall 4 of the
    /// spec). Centrals must then use another adapter.
    pub hide_own_adapter: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            mtu: 517,
            adapters: vec!["hci0".into(), "hci1".into()],
            hide_own_adapter: false,
        }
    }
}

impl Options {
    fn validate(&self) -> Result<(), Error> {
        if self.mtu < 23 {
            return Err(Error::Config(format!(
                "mtu {} is below the ATT minimum of 23",
                self.mtu
            )));
        }
        if self.adapters.is_empty() {
            return Err(Error::Config("at least one adapter is needed".into()));
        }
        for (i, a) in self.adapters.iter().enumerate() {
            let ok = !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(Error::Config(format!(
                    "adapter name {a:?} is not a valid D-Bus path element"
                )));
            }
            if self.adapters[..i].contains(a) {
                return Err(Error::Config(format!("adapter {a} is listed twice")));
            }
        }
        if self.adapters.len() > 60 {
            return Err(Error::Config("at most 60 adapters".into()));
        }
        Ok(())
    }
}

/// What can go wrong when starting or running the loopback.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `dbus-daemon` is not on `PATH`.
    #[error("dbus-daemon was not found on PATH: install the Debian package dbus-daemon")]
    DbusDaemonMissing,
    /// The private dbus-daemon did not start.
    #[error("dbus-daemon failed to start: {0}")]
    Daemon(String),
    /// An I/O error (temp dir, config file, process).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A D-Bus error while connecting or serving.
    #[error("D-Bus: {0}")]
    Dbus(#[from] dbus::Error),
    /// Somebody else owns `org.bluez` on that bus (a real bluetoothd?).
    #[error("the bus name org.bluez is already owned on this bus (is a real bluetoothd or another loopback running?)")]
    NameTaken,
    /// Invalid [`Options`].
    #[error("invalid options: {0}")]
    Config(String),
    /// The loopback stopped unexpectedly.
    #[error("loopback stopped: {0}")]
    Stopped(String),
}

/// Runs the loopback on an existing bus (for example `unix:path=/tmp/x/bus`) until the
/// connection is lost. Connects by explicit address; the environment is not read.
pub async fn serve(conn_address: &str, opts: Options) -> Result<(), Error> {
    opts.validate()?;
    service::run(conn_address, opts, None, futures::future::pending()).await
}
