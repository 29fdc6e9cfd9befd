//! The embedded simulator over BLE: its GATT peripheral on a BlueZ adapter of its own (the loopback's,
//! normally) and a central on another, each on a D-Bus connection of its own (host.rs: why).

use std::sync::Arc;
use std::time::Duration;

use sim_device::runtime::DeviceHandle;
use tokio::runtime::Runtime;

use crate::dut::ble::host::{BleHost, Bus, BusLease, Lease};
use crate::dut::ble::{BleLink, BleOptions, Peer};
use crate::dut::line::LineOptions;
use crate::link::{Link, LinkError};

/// How the embedded simulator is reached over BLE.
#[derive(Clone)]
pub(super) struct SimBle {
    host: Arc<BleHost>,
    stack: crate::description::BleStack,
    link: BleOptions,
}

impl SimBle {
    /// The process's BLE client (opened on first use), the stack the device models and the client's
    /// settings.
    pub(super) fn new(ble: &crate::description::Ble) -> Result<Self, String> {
        let host = BleHost::get(ble.adapter.as_deref())?;
        let link = BleOptions {
            adapter: Some(host.central().to_owned()),
            scan: Duration::from_millis(ble.scan_ms),
            reply: LineOptions::default().timeout,
            stack: ble.stack,
        };
        Ok(Self {
            host,
            stack: ble.stack.unwrap_or_default(),
            link,
        })
    }
}

/// A service name no other live device has: `PROV_` and six random hex digits, as the ESP-IDF example
/// derives it from the MAC address.
fn unique_service_name() -> String {
    use rand_core::RngCore;
    format!("PROV_{:06X}", rand_core::OsRng.next_u32() & 0x00ff_ffff)
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

/// Opens a BLE link to a device served by `handle`: the device's GATT peripheral on an adapter of its
/// own, the client on another.
pub(super) fn connect(
    ble: &SimBle,
    rt: &Runtime,
    handle: &DeviceHandle,
) -> Result<Box<dyn Link>, LinkError> {
    use sim_device::transport::ble as dev;
    let unreachable = |e: String| LinkError::Unreachable(format!("simulator over BLE: {e}"));
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
    match rt.block_on(ready_rx) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(unreachable(e)),
        Err(_) => return Err(unreachable("the BLE transport ended at start".into())),
    }
    let client = device.client.bus().clone();
    let keep: Box<dyn Send> = Box::new(device);
    let link = BleLink::connect(client, Peer::Name(name), ble.link.clone(), Some(keep))?;
    Ok(Box::new(link))
}
