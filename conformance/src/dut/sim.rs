//! The embedded simulator: provlab's `sim-device` runtime and transports, in this process. Every link
//! boots a fresh device, so cases are independent and run in parallel.
//!
//! The device is reached through the real transport code: the SoftAP HTTP server on a loopback port,
//! the console line protocol over a socket pair, or the BLE GATT peripheral on a BlueZ adapter of its
//! own (the loopback's, normally), exactly as the `sim-device` binary serves them.

use std::collections::BTreeSet;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use sim_device::config::example;
use sim_device::misbehave::Misbehaviour;
use sim_device::runtime::world::{World, WorldFile, DEFAULT_WORLD};
use sim_device::runtime::{self, DeviceHandle, SimOptions};
use sim_device::transport::http::HttpServer;
use sim_device::DeviceConfig;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use super::ble::host::{BleHost, Bus, BusLease, Lease};
use super::ble::{BleLink, BleOptions, Target};
use super::http::HttpLink;
use super::line::{LineLink, LineOptions};
use super::Dut;
use crate::link::{Link, LinkError, Transport};

/// How each fresh device is made.
#[derive(Clone)]
pub struct SimSetup {
    /// Device configuration (security, profile, endpoints, misbehaviours).
    pub config: DeviceConfig,
    /// Radio environment.
    pub world: World,
    /// Randomness per boot; `None` = OS randomness.
    pub rng: Option<runtime::RngFactory>,
    /// Virtual time (golden replay): timers fire only when the replay advances the clock.
    pub virtual_clock: bool,
}

impl SimSetup {
    /// The simulator's defaults (as `sim-device` with no flags) for security `sec`, with `misbehave`.
    pub fn defaults(
        sec: u8,
        profile: sim_device::Profile,
        misbehave: &BTreeSet<Misbehaviour>,
    ) -> Result<Self, String> {
        let mut config = DeviceConfig {
            profile,
            ..DeviceConfig::default()
        };
        // A fixed salt keeps runs reproducible (the binary draws one).
        config.security = sim_device::Security::example(sec, &[0x5a; 16])
            .ok_or_else(|| format!("security {sec}: expected 0, 1 or 2"))?;
        config.misbehave = misbehave.clone();
        // As the `sim-device` binary: one echo endpoint, the golden vectors' `custom-data`.
        config.custom_endpoints = vec![sim_device::CustomEndpoint::echo(example::CUSTOM_ENDPOINT)];
        let world = WorldFile::from_toml(DEFAULT_WORLD)?.to_world()?;
        Ok(Self {
            config,
            world,
            rng: None,
            virtual_clock: false,
        })
    }
}

/// The embedded simulator as a device under test.
pub struct SimDut {
    transport: Transport,
    setup: SimSetup,
    rt: Arc<Runtime>,
    label: String,
    ble: Option<SimBle>,
}

/// How the embedded simulator is reached over BLE.
#[derive(Clone)]
struct SimBle {
    host: Arc<BleHost>,
    stack: crate::description::BleStack,
    link: BleOptions,
}

impl SimDut {
    /// A simulator reached over `transport` (HTTP or console), run on `rt`.
    pub fn new(transport: Transport, setup: SimSetup, rt: Arc<Runtime>, label: String) -> Self {
        Self {
            transport,
            setup,
            rt,
            label,
            ble: None,
        }
    }

    /// Sets up the BLE side (the process's BLE client, opened on first use): the stack the device
    /// models and the client's settings. Needed before BLE links can be opened.
    pub fn with_ble(mut self, ble: &crate::description::Ble) -> Result<Self, String> {
        let host = BleHost::get(ble.adapter.as_deref())?;
        let link = BleOptions {
            adapter: Some(host.central().to_owned()),
            scan: std::time::Duration::from_millis(ble.scan_ms),
            reply: LineOptions::default().timeout,
            stack: ble.stack,
        };
        self.ble = Some(SimBle {
            host,
            stack: ble.stack.unwrap_or_default(),
            link,
        });
        Ok(self)
    }
}

/// A service name no other live device has: `PROV_` and six random hex digits, as the ESP-IDF example
/// derives it from the MAC address.
fn unique_service_name() -> String {
    use rand_core::RngCore;
    format!("PROV_{:06X}", rand_core::OsRng.next_u32() & 0x00ff_ffff)
}

/// Stops the device's tasks when the link goes.
struct Tasks(Vec<JoinHandle<()>>, #[allow(dead_code)] DeviceHandle);

impl Drop for Tasks {
    fn drop(&mut self) {
        self.0.iter().for_each(JoinHandle::abort);
    }
}

/// How long a BLE device gets to unregister its advertisement and GATT application when its link goes.
const BLE_STOP_WAIT: Duration = Duration::from_secs(5);

/// A BLE device's transport, on a thread of its own that drives the device's bus (host.rs: why), and
/// its adapter, kept by the link. On drop the transport is asked to stop and gets up to
/// [`BLE_STOP_WAIT`] before it is cut off, and the thread is joined before the adapter goes back to the
/// pool: cancelling at once could cut a BlueZ registration in flight (it re-advertises as the central
/// leaves), and such an advertisement is never unregistered (module docs of
/// `sim_device::transport::ble`).
struct BleDevice {
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _device: DeviceHandle,
    // Last: returned only once the transport is done with them. The client's bus is the link's.
    _lease: Lease,
    _bus: BusLease,
    client: BusLease,
}

impl Drop for BleDevice {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The device thread's work: opens the transport on `bus`, reports to `ready`, serves until `stop`.
fn serve_ble(
    bus: &Bus,
    opts: sim_device::transport::ble::BleOptions,
    device: DeviceHandle,
    ready: tokio::sync::oneshot::Sender<Result<(), String>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use sim_device::transport::ble::BleTransport;
    bus.block_on(async move {
        let transport = match BleTransport::open_with(bus.session().clone(), opts).await {
            Ok(t) => t,
            Err(e) => {
                let _ = ready.send(Err(e.to_string()));
                return;
            }
        };
        let mut asked = stop.clone();
        let run = transport.run_until(device, ready, async move {
            let _ = asked.wait_for(|s| *s).await;
        });
        let mut run = std::pin::pin!(run);
        tokio::select! {
            () = &mut run => {}
            _ = stop.wait_for(|s| *s) => {
                if tokio::time::timeout(BLE_STOP_WAIT, &mut run).await.is_err() {
                    tracing::warn!("the BLE device did not stop within {BLE_STOP_WAIT:?}: cut off");
                }
            }
        }
    });
}

impl Dut for SimDut {
    fn label(&self) -> String {
        self.label.clone()
    }

    fn transport(&self) -> Transport {
        self.transport
    }

    fn fresh_per_connect(&self) -> bool {
        true
    }

    fn parallelism(&self) -> usize {
        // As many BLE devices as other ones: each has an adapter and D-Bus connections of its own
        // (host.rs) and unregisters before its adapter is reused (`BleDevice`); most of a case's time
        // is the device's simulated delays, not the bus.
        8
    }

    fn connect(&self) -> Result<Box<dyn Link>, LinkError> {
        self.connect_with_handle().map(|(link, _)| link)
    }
}

impl SimDut {
    /// Opens a link and also returns the device's handle (for control operations such as advancing
    /// a virtual clock).
    pub fn connect_with_handle(&self) -> Result<(Box<dyn Link>, DeviceHandle), LinkError> {
        let setup = self.setup.clone();
        let unreachable = |e: String| LinkError::Unreachable(format!("simulator: {e}"));
        let _guard = self.rt.enter();
        let handle = runtime::spawn(SimOptions {
            device: setup.config,
            world: setup.world,
            store: None,
            seed: None,
            rng: setup.rng,
            virtual_clock: setup.virtual_clock,
        })
        .map_err(unreachable)?;
        match self.transport {
            Transport::Http => {
                let server = self
                    .rt
                    .block_on(HttpServer::bind(([127, 0, 0, 1], 0).into()))
                    .map_err(|e| unreachable(e.to_string()))?;
                let addr = server.local_addr();
                let task = self.rt.spawn(server.run(handle.clone()));
                let link = HttpLink::new(&addr.to_string(), LineOptions::default().timeout)?
                    .with_keep(Box::new(Tasks(vec![task], handle.clone())));
                Ok((Box::new(link), handle))
            }
            Transport::Console | Transport::Serial => {
                let (ours, theirs) = UnixStream::pair()?;
                theirs.set_nonblocking(true)?;
                let theirs = tokio::net::UnixStream::from_std(theirs)?;
                let h = handle.clone();
                let task = self.rt.spawn(async move {
                    let (r, w) = theirs.into_split();
                    let _ = sim_device::transport::console::serve(h, r, w).await;
                });
                let reader = ours.try_clone()?;
                let link = LineLink::new(
                    Transport::Console,
                    Box::new(reader),
                    Box::new(ours),
                    LineOptions::default(),
                    Box::new(Tasks(vec![task], handle.clone())),
                )?;
                Ok((Box::new(link), handle))
            }
            Transport::Ble => {
                let link = self.connect_ble(&handle)?;
                Ok((link, handle))
            }
        }
    }

    fn connect_ble(&self, handle: &DeviceHandle) -> Result<Box<dyn Link>, LinkError> {
        use sim_device::transport::ble as dev;
        let unreachable = |e: String| LinkError::Unreachable(format!("simulator over BLE: {e}"));
        let ble = self.ble.as_ref().ok_or_else(|| {
            unreachable("no BLE client set up (suite bug: SimDut::with_ble not called)".into())
        })?;
        let lease = ble.host.lease().map_err(unreachable)?;
        // A bus each for the device and for the client (host.rs: why).
        let bus = ble.host.bus_lease().map_err(unreachable)?;
        let client = ble.host.bus_lease().map_err(unreachable)?;
        let name = unique_service_name();
        let mut opts = dev::BleOptions::new(&name);
        opts.adapter = Some(lease.name().to_owned());
        // BlueZ negotiates the ATT MTU, the device does not see it: let the link's MTU decide
        // (a smaller device MTU would cut reads short of what the client expects).
        opts.mtu = Some(517);
        opts.stack = ble.stack;
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let thread = {
            let bus = bus.bus().clone();
            let handle = handle.clone();
            std::thread::Builder::new()
                .name("ble-device".into())
                .spawn(move || serve_ble(&bus, opts, handle, ready_tx, stop_rx))?
        };
        // From here on, every way out (errors included) stops the device gracefully.
        let device = BleDevice {
            stop: Some(stop_tx),
            thread: Some(thread),
            _device: handle.clone(),
            _lease: lease,
            _bus: bus,
            client,
        };
        match self.rt.block_on(ready_rx) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(unreachable(e)),
            Err(_) => return Err(unreachable("the BLE transport ended at start".into())),
        }
        let client = device.client.bus().clone();
        let keep: Box<dyn Send> = Box::new(device);
        let link = BleLink::connect(client, Target::Name(name), ble.link.clone(), Some(keep))?;
        Ok(Box::new(link))
    }
}
