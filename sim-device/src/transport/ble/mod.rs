//! The BLE transport: a GATT peripheral through BlueZ (bluer), as `protocomm_ble` (Bluedroid) or
//! `protocomm_nimble` (NimBLE) present it to a central (spec §4.2).
//!
//! What a central observes, and what this reproduces:
//! - one primary service (`--ble-service-uuid`, default the ESP-IDF example's `021a9004-…`), with one
//!   Read+Write characteristic per endpoint whose UUID carries the endpoint's 16-bit id in hex digits 5–8,
//!   each with a read-only User Description (0x2901) holding the endpoint name; no 0x2902 (BlueZ adds a
//!   CCC only for notify characteristics, and nothing here notifies);
//! - a write runs protocomm and stores the response as the characteristic's value for that connection; a
//!   read returns it from the requested offset, at most MTU − 1 bytes per read, so long values need Read
//!   Blob requests exactly as on a chip; a read before any write returns an empty value; values are
//!   forgotten on disconnect (current firmware);
//! - write validation and error behaviour per stack ([`profile`]): Bluedroid refuses empty writes and drops
//!   the link after a protocomm error, NimBLE accepts empty writes without processing and keeps the link;
//! - one protocomm session per connection: opened when the central's `Device1` shows up connected on the
//!   adapter (or on its first request, whichever comes first), closed on disconnect;
//! - advertising (LocalName = service name, the service UUID, optional manufacturer data) only while
//!   provisioning runs and no central is connected; when provisioning stops the advertisement and the GATT
//!   application go away and connected centrals are dropped (the chip shuts its BLE stack down), and both
//!   come back, with no session, after a reboot into provisioning.
//!
//! Placement in the advertisement is BlueZ's decision: bluer hands it LocalName, ServiceUUIDs and
//! ManufacturerData and bluetoothd lays out the advertising data and scan response (flags and the 128-bit
//! UUID take 21 of the 31 legacy bytes, so the name normally ends up in the scan response, or is shortened).
//! The name is cut to 29 bytes and manufacturer data to what ESP-IDF would keep next to it
//! ([`profile::fit_manufacturer_data`]) before they are handed over. The Bluedroid profile also asks for
//! the TX power level, as Bluedroid's advertising data carries it; its connection-interval range field is
//! not reproduced (BlueZ's `Data` property for raw fields is experimental).
//!
//! Stopping: [`BleTransport::run`] serves for the device's life. A host that runs many devices in one
//! process (the conformance suite) stops each with [`BleTransport::run_until`] instead of aborting its
//! task: aborting can cancel a `RegisterAdvertisement` (or `RegisterApplication`) call in flight, and
//! then bluer never unregisters it, so BlueZ keeps the advertisement for as long as the D-Bus
//! connection lives (one shared session: for the whole run), until the adapter refuses new ones.
//!
//! Modules: [`profile`] (the stacks' rules as pure functions), `gatt` (the application, links and the
//! request procedure), `args` ([`BleArgs`], the `--ble-*` flags).
//!
//! The `--ble-mtu` model: the effective MTU is the smaller of the device's and the link's (what bluetoothd
//! reports in each request). BlueZ negotiates the ATT MTU itself, so a `--ble-mtu` below the link's MTU
//! makes reads shorter than a central expects and it stops early: only lower it against centrals (or a
//! loopback) whose MTU is at most as large.

mod args;
mod gatt;
pub mod profile;

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bluer::adv::{Advertisement, AdvertisementHandle, Feature, Type};
use bluer::{Adapter, AdapterEvent, Address, DeviceEvent, DeviceProperty, Session, Uuid};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{AbortHandle, JoinSet};

use crate::runtime::{DeviceHandle, Status};
pub use args::BleArgs;
use gatt::{Gatt, Limits};
pub use profile::BleStack;

/// Service UUID of the ESP-IDF example (`wifi_prov_mgr`), and esp_prov's fallback.
pub const EXAMPLE_SERVICE_UUID: Uuid = Uuid::from_u128(0x021a9004_0382_4aea_bff4_6b3f1c5adfb4);

/// Default service UUID of the Wi-Fi/network provisioning manager when the application sets none.
pub const MANAGER_SERVICE_UUID: Uuid = Uuid::from_u128(0x1775244d_6b43_439b_877c_060f2d9bed07);

/// The advertising interval of both stacks: 0x100 × 0.625 ms.
const ADV_INTERVAL: Duration = Duration::from_millis(160);

/// How long [`BleTransport::run_until`] waits, once stopped, for BlueZ to drop the advertisement.
const WITHDRAW_WAIT: Duration = Duration::from_secs(2);

/// The stop signal of [`BleTransport::run_until`], pinned once and polled from every wait.
type Stop<'a> = Pin<&'a mut (dyn Future<Output = ()> + Send)>;

/// How one period of provisioning ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    /// Provisioning stopped or the device rebooted: serve again when it runs.
    Again,
    /// The device task ended.
    Device,
    /// The host asked to stop ([`BleTransport::run_until`]). `with_ours`: the adapter's
    /// `ActiveInstances` while our advertisement was still up (`None`: none was, or BlueZ did not say).
    Stopped { with_ours: Option<u8> },
}

/// What the BLE transport is started with.
#[derive(Clone, Debug)]
pub struct BleOptions {
    /// Adapter name (`hci0`, …); `None` takes bluer's default adapter.
    pub adapter: Option<String>,
    /// The primary service's UUID.
    pub service_uuid: Uuid,
    /// Service name, advertised as the local name.
    pub service_name: String,
    /// Stack profile.
    pub stack: BleStack,
    /// The device's local MTU; `None` takes the stack's default.
    pub mtu: Option<u16>,
    /// Manufacturer-specific data (company id first, little-endian), fitted as ESP-IDF does.
    pub manufacturer_data: Option<Vec<u8>>,
    /// Security 2 support compiled into the firmware (Bluedroid's value limit: 481 bytes, else 257).
    pub sec2_compiled_in: bool,
}

impl BleOptions {
    /// Defaults for `service_name`: example service UUID, Bluedroid, default adapter.
    pub fn new(service_name: &str) -> Self {
        Self {
            adapter: None,
            service_uuid: EXAMPLE_SERVICE_UUID,
            service_name: service_name.to_owned(),
            stack: BleStack::Bluedroid,
            mtu: None,
            manufacturer_data: None,
            sec2_compiled_in: true,
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            stack: self.stack,
            mtu: self.mtu.unwrap_or_else(|| self.stack.default_mtu()),
            max_value: self.stack.max_value_len(self.sec2_compiled_in),
        }
    }
}

/// Why the transport could not start.
#[derive(Debug, thiserror::Error)]
pub enum BleError {
    /// No bluetoothd (or loopback) owns `org.bluez` on the system bus, or there is no system bus.
    #[error(
        "no BlueZ on the system bus (is bluetoothd running? for tests use bluez-loopback: \
         DBUS_SYSTEM_BUS_ADDRESS=<its bus address>): {0}"
    )]
    NoBlueZ(bluer::Error),
    /// BlueZ runs but has no (such) adapter.
    #[error("no Bluetooth adapter {wanted} (BlueZ lists: {available})")]
    NoAdapter {
        /// What was asked for.
        wanted: String,
        /// The adapters BlueZ has.
        available: String,
    },
    /// A BlueZ call failed.
    #[error("BlueZ refused {what}: {error}")]
    Bluez {
        /// The call.
        what: &'static str,
        /// bluer's error.
        error: bluer::Error,
    },
}

/// The transport, connected to BlueZ and holding its adapter.
pub struct BleTransport {
    // Keeps the D-Bus connection (and bluer's dispatch tasks) alive.
    _session: Session,
    adapter: Adapter,
    own_address: Option<Address>,
    opts: BleOptions,
}

impl BleTransport {
    /// Connect to BlueZ on the system bus (`DBUS_SYSTEM_BUS_ADDRESS` is honoured), pick the adapter and
    /// power it on.
    pub async fn open(opts: BleOptions) -> Result<Self, BleError> {
        let session = Session::new().await.map_err(BleError::NoBlueZ)?;
        Self::open_with(session, opts).await
    }

    /// As [`BleTransport::open`], on an existing session. A process that runs many devices (the
    /// conformance suite) shares one: each bluer `Session` is a D-Bus connection, and a dropped one
    /// is not closed at once.
    pub async fn open_with(session: Session, opts: BleOptions) -> Result<Self, BleError> {
        let names = session.adapter_names().await.map_err(BleError::NoBlueZ)?;
        let adapter = match &opts.adapter {
            Some(name) if names.contains(name) => session.adapter(name),
            Some(name) => {
                return Err(BleError::NoAdapter {
                    wanted: name.clone(),
                    available: list(&names),
                })
            }
            None if names.is_empty() => {
                return Err(BleError::NoAdapter {
                    wanted: "at all".to_owned(),
                    available: list(&names),
                })
            }
            None => session.default_adapter().await,
        }
        .map_err(|error| BleError::Bluez {
            what: "the adapter",
            error,
        })?;
        if !adapter.is_powered().await.unwrap_or(false) {
            adapter
                .set_powered(true)
                .await
                .map_err(|error| BleError::Bluez {
                    what: "powering the adapter on",
                    error,
                })?;
        }
        let own_address = adapter.address().await.ok();
        Ok(Self {
            _session: session,
            adapter,
            own_address,
            opts,
        })
    }

    /// The adapter's name (`hci0`, …).
    pub fn adapter_name(&self) -> &str {
        self.adapter.name()
    }

    /// Serve for as long as the device task lives: registered and advertising while the provisioning
    /// service runs, gone while it does not. `ready` receives the outcome of the first registration (or
    /// `Ok` at once when provisioning is not running).
    pub async fn run(self, handle: DeviceHandle, ready: oneshot::Sender<Result<(), String>>) {
        self.run_until(handle, ready, std::future::pending()).await;
    }

    /// As [`BleTransport::run`], and stops when `stop` resolves: the advertisement and the GATT
    /// application are unregistered (never cancelled halfway through a BlueZ call) and, if an
    /// advertisement was up, this waits (up to 2 s) until the adapter's `ActiveInstances` shows it gone.
    /// When it returns, the adapter can be given to another device.
    pub async fn run_until(
        self,
        handle: DeviceHandle,
        ready: oneshot::Sender<Result<(), String>>,
        stop: impl Future<Output = ()> + Send,
    ) {
        let mut stop = std::pin::pin!(stop);
        let mut stop: Stop<'_> = stop.as_mut();
        let mut ready = Some(ready);
        let mut status = handle.status();
        loop {
            let s = loop {
                let s = status.borrow_and_update().clone();
                if s.serving {
                    break s;
                }
                if let Some(r) = ready.take() {
                    let _ = r.send(Ok(()));
                }
                tokio::select! {
                    changed = status.changed() => if changed.is_err() {
                        return;
                    },
                    () = &mut stop => return,
                }
            };
            match self
                .serve_boot(&handle, &mut status, &s, &mut ready, &mut stop)
                .await
            {
                Ended::Again => {}
                Ended::Device => return,
                Ended::Stopped { with_ours } => return self.await_withdrawn(with_ours).await,
            }
        }
    }

    /// The adapter's `ActiveInstances` (advertisements registered on it), if BlueZ tells.
    async fn active_instances(&self) -> Option<u8> {
        self.adapter.active_advertising_instances().await.ok()
    }

    /// Waits (bounded) until the adapter has fewer advertisements than `with_ours`, counted while ours
    /// was up: dropping bluer's handle only asks a task of bluer's to unregister, this sees BlueZ did.
    async fn await_withdrawn(&self, with_ours: Option<u8>) {
        let Some(with_ours) = with_ours else { return };
        let until = Instant::now() + WITHDRAW_WAIT;
        while self
            .active_instances()
            .await
            .is_some_and(|n| n >= with_ours)
        {
            if Instant::now() >= until {
                tracing::warn!(
                    adapter = self.adapter.name(),
                    "the advertisement is still registered {} ms after stopping",
                    WITHDRAW_WAIT.as_millis()
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// One period of provisioning under one boot.
    async fn serve_boot(
        &self,
        handle: &DeviceHandle,
        status: &mut tokio::sync::watch::Receiver<Status>,
        s: &Status,
        ready: &mut Option<oneshot::Sender<Result<(), String>>>,
        stop: &mut Stop<'_>,
    ) -> Ended {
        let gatt = Arc::new(Gatt::new(
            handle.clone(),
            s.boot,
            self.adapter.clone(),
            self.opts.limits(),
        ));
        let app = gatt.application(self.opts.service_uuid, &s.endpoints);
        let registered = self.adapter.serve_gatt_application(app).await;
        let (app, mut adv) = match registered {
            Ok(app) => match self.advertise().await {
                Ok(adv) => (app, Some(adv)),
                Err(e) => {
                    return self
                        .registration_failed(status, s, ready, stop, "RegisterAdvertisement", e)
                        .await
                }
            },
            Err(e) => {
                return self
                    .registration_failed(status, s, ready, stop, "RegisterApplication", e)
                    .await
            }
        };
        tracing::info!(
            adapter = self.adapter.name(),
            boot = s.boot,
            service = %self.opts.service_uuid,
            stack = self.opts.stack.name(),
            "BLE GATT service registered, advertising"
        );
        if let Some(r) = ready.take() {
            let _ = r.send(Ok(()));
        }

        let (tx, mut conn_rx) = mpsc::channel::<(Address, bool)>(64);
        let mut watchers = Watchers::default();
        let mut adapter_events = match self.adapter.events().await {
            Ok(ev) => Some(ev.boxed()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the adapter: sessions open on first request");
                None
            }
        };
        if let Ok(known) = self.adapter.device_addresses().await {
            for addr in known {
                self.watch(&mut watchers, addr, &tx);
            }
        }
        let ended = loop {
            let adapter_event = async {
                match adapter_events.as_mut() {
                    Some(ev) => ev.next().await,
                    None => std::future::pending().await,
                }
            };
            // Only these waits are cut short by `stop`; BlueZ calls below always run to their end.
            tokio::select! {
                () = &mut *stop => {
                    let with_ours = match adv {
                        Some(_) => self.active_instances().await,
                        None => None,
                    };
                    break Ended::Stopped { with_ours };
                }
                changed = status.changed() => {
                    if changed.is_err() {
                        break Ended::Device;
                    }
                    let now = status.borrow().clone();
                    if !now.serving || now.boot != s.boot {
                        break Ended::Again;
                    }
                }
                event = adapter_event => match event {
                    Some(AdapterEvent::DeviceAdded(addr)) => self.watch(&mut watchers, addr, &tx),
                    Some(AdapterEvent::DeviceRemoved(addr)) => {
                        watchers.forget(addr);
                        gatt.disconnected(addr).await;
                    }
                    Some(AdapterEvent::PropertyChanged(_)) => {}
                    None => {
                        tracing::warn!("adapter event stream ended (adapter removed?)");
                        adapter_events = None;
                    }
                },
                Some((addr, connected)) = conn_rx.recv() => {
                    if connected {
                        gatt.connected(addr).await;
                    } else {
                        gatt.disconnected(addr).await;
                    }
                }
            }
            // One central at a time: advertising stops on connect and restarts on disconnect.
            let busy = gatt.connections().await > 0;
            if busy && adv.is_some() {
                tracing::debug!("central connected: advertising stopped");
                adv = None;
            } else if !busy && adv.is_none() {
                match self.advertise().await {
                    Ok(h) => {
                        tracing::debug!("no central connected: advertising again");
                        adv = Some(h);
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot restart advertising"),
                }
            }
        };
        watchers.tasks.abort_all();
        drop(adv);
        drop(app);
        gatt.shut_down().await;
        tracing::info!(adapter = self.adapter.name(), "BLE GATT service stopped");
        ended
    }

    /// The first registration failed: report it; later ones wait for the next boot.
    async fn registration_failed(
        &self,
        status: &mut tokio::sync::watch::Receiver<Status>,
        s: &Status,
        ready: &mut Option<oneshot::Sender<Result<(), String>>>,
        stop: &mut Stop<'_>,
        what: &str,
        e: bluer::Error,
    ) -> Ended {
        let msg = format!("BlueZ {what} on {} failed: {e}", self.adapter.name());
        tracing::error!("{msg}");
        if let Some(r) = ready.take() {
            let _ = r.send(Err(msg));
        }
        loop {
            tokio::select! {
                () = &mut *stop => return Ended::Stopped { with_ours: None },
                changed = status.changed() => if changed.is_err() {
                    return Ended::Device;
                },
            }
            let now = status.borrow().clone();
            if !now.serving || now.boot != s.boot {
                return Ended::Again;
            }
        }
    }

    async fn advertise(&self) -> bluer::Result<AdvertisementHandle> {
        self.adapter.advertise(self.advertisement()).await
    }

    fn advertisement(&self) -> Advertisement {
        let name = profile::advertised_name(&self.opts.service_name);
        if name.len() < self.opts.service_name.len() {
            tracing::warn!(%name, "service name longer than 29 bytes: advertised shortened");
        }
        let manufacturer_data = self
            .opts
            .manufacturer_data
            .as_deref()
            .and_then(|d| {
                let fitted = profile::fit_manufacturer_data(name.len(), d);
                if fitted.as_ref().map_or(0, |(_, rest)| rest.len() + 2) < d.len() {
                    tracing::warn!(
                        len = d.len(),
                        "manufacturer data cut to fit next to the name in 31 bytes"
                    );
                }
                fitted
            })
            .into_iter()
            .collect();
        let system_includes = match self.opts.stack {
            BleStack::Bluedroid => BTreeSet::from([Feature::TxPower]),
            BleStack::Nimble => BTreeSet::new(),
        };
        Advertisement {
            advertisement_type: Type::Peripheral,
            service_uuids: BTreeSet::from([self.opts.service_uuid]),
            local_name: Some(name.to_owned()),
            discoverable: Some(true),
            manufacturer_data,
            system_includes,
            min_interval: Some(ADV_INTERVAL),
            max_interval: Some(ADV_INTERVAL),
            ..Default::default()
        }
    }

    /// Follow `addr`'s `Connected` property (centrals show up as `Device1` objects on our adapter).
    fn watch(&self, watchers: &mut Watchers, addr: Address, tx: &mpsc::Sender<(Address, bool)>) {
        // BlueZ-like loopbacks show our own adapter as a device too (BLE-TESTBED §6.4).
        if Some(addr) == self.own_address || watchers.by_addr.contains_key(&addr) {
            return;
        }
        let Ok(device) = self.adapter.device(addr) else {
            return;
        };
        let tx = tx.clone();
        let task = watchers.tasks.spawn(async move {
            // Subscribe first, then read the current state, so no change falls in between.
            let Ok(events) = device.events().await else {
                return;
            };
            let mut events = events.boxed();
            if device.is_connected().await.unwrap_or(false) && tx.send((addr, true)).await.is_err()
            {
                return;
            }
            while let Some(DeviceEvent::PropertyChanged(p)) = events.next().await {
                if let DeviceProperty::Connected(c) = p {
                    if tx.send((addr, c)).await.is_err() {
                        return;
                    }
                }
            }
        });
        watchers.by_addr.insert(addr, task);
    }
}

/// One task per known device, following its `Connected` property.
#[derive(Default)]
struct Watchers {
    tasks: JoinSet<()>,
    by_addr: HashMap<Address, AbortHandle>,
}

impl Watchers {
    fn forget(&mut self, addr: Address) {
        if let Some(task) = self.by_addr.remove(&addr) {
            task.abort();
        }
        while self.tasks.try_join_next().is_some() {}
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}
