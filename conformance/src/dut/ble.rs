//! The BLE GATT client side (spec §4.2), as esp_prov, Android and iOS do it, on `bluer` (BlueZ over
//! D-Bus; `DBUS_SYSTEM_BUS_ADDRESS` picks the bus, so the same code runs against a real `bluetoothd`
//! or the `bluez-loopback` fake):
//!
//! 1. scan until a device advertises the wanted name (exactly, or a prefix for `ble:<prefix>` devices);
//! 2. connect, then read **every** Characteristic User Description (0x2901) to map endpoint names to
//!    characteristics: the names are the interface, fixed UUIDs only a fallback (spec §4.2.1);
//! 3. per request: Write Request (write with response) of the body, then read the same characteristic
//!    (BlueZ turns a value longer than MTU−1 into Read Blob requests, i.e. offset reads on the device).
//!
//! A failed write (an ATT error) is the transport's "no response" (spec §4.4). Bluedroid then drops
//! the link, and with it the security session; the link notices, says so in the answer, and connects
//! again for the next request, in a new transport session, as a phone app would have to. NimBLE keeps
//! the link.

pub mod host;
pub mod loopback;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bluer::gatt::remote::{Characteristic, CharacteristicWriteRequest};
use bluer::gatt::WriteOp;
use bluer::{Adapter, AdapterEvent, Device, Uuid, UuidExt};
use futures::StreamExt;

use self::host::Bus;
use crate::description::BleStack;
use crate::link::{Access, GattAccess, GattChar, Link, LinkError, Transport};
use crate::model::Answer;

/// The 16-bit UUID of the Characteristic User Description descriptor.
pub const CUD: u16 = 0x2901;

/// Which advertisement to connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// This exact local name (the embedded simulator's unique per-link name).
    Name(String),
    /// The first device whose name starts with this (`ble:PROV_`).
    Prefix(String),
}

impl Peer {
    fn matches(&self, name: &str) -> bool {
        match self {
            Self::Name(n) => name == n,
            Self::Prefix(p) => name.starts_with(p.as_str()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Name(n) => format!("named {n:?}"),
            Self::Prefix(p) => format!("with a name starting {p:?}"),
        }
    }
}

/// How a BLE link behaves.
#[derive(Clone, Debug)]
pub struct BleOptions {
    /// The client's adapter; `None` = BlueZ's default adapter.
    pub adapter: Option<String>,
    /// Longest wait for the advertisement.
    pub scan: Duration,
    /// Longest wait for a connection, a write response or a read.
    pub reply: Duration,
    /// The device's stack, if known: after an ATT error the link waits this stack's way for the
    /// device to drop it (Bluedroid: up to a second; NimBLE: not at all; unknown: briefly).
    pub stack: Option<BleStack>,
}

impl Default for BleOptions {
    fn default() -> Self {
        Self {
            adapter: None,
            scan: Duration::from_secs(10),
            reply: Duration::from_secs(15),
            stack: None,
        }
    }
}

/// An open connection.
struct Conn {
    device: Device,
    name: String,
    chars: BTreeMap<String, Characteristic>,
    gatt: Vec<GattChar>,
}

/// A BLE connection to one device, reconnecting when the device dropped the previous one.
pub struct BleLink {
    bus: Arc<Bus>,
    adapter: Adapter,
    peer: Peer,
    opts: BleOptions,
    conn: Option<Conn>,
    session: u32,
    _keep: Option<Box<dyn Send>>,
}

fn unreachable(e: impl std::fmt::Display) -> LinkError {
    LinkError::Unreachable(format!("BLE: {e}"))
}

impl BleLink {
    /// Scans for `peer` on `bus` (which the link uses alone from now on), connects and maps the
    /// endpoints. `keep` is dropped with the link (the embedded simulator's device, a bus lease).
    pub fn connect(
        bus: Arc<Bus>,
        peer: Peer,
        opts: BleOptions,
        keep: Option<Box<dyn Send>>,
    ) -> Result<Self, LinkError> {
        let adapter = match &opts.adapter {
            Some(a) => bus.session().adapter(a).map_err(unreachable)?,
            None => bus
                .block_on(bus.session().default_adapter())
                .map_err(unreachable)?,
        };
        let mut link = Self {
            bus,
            adapter,
            peer,
            opts,
            conn: None,
            session: 0,
            _keep: keep,
        };
        let bus = link.bus.clone();
        bus.block_on(link.open())?;
        Ok(link)
    }

    /// The advertised name of the connected device.
    pub fn device_name(&self) -> Option<&str> {
        self.conn.as_ref().map(|c| c.name.as_str())
    }

    async fn still_connected(&mut self, wait: Duration) -> bool {
        let Some(conn) = &self.conn else {
            return false;
        };
        let until = Instant::now() + wait;
        loop {
            let up = conn.device.is_connected().await.unwrap_or(false);
            if !up {
                self.conn = None;
                return false;
            }
            if Instant::now() >= until {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The characteristic of `endpoint`, connecting again first if the device dropped the link.
    async fn characteristic(
        &mut self,
        endpoint: &str,
    ) -> Result<Option<Characteristic>, LinkError> {
        if self.conn.is_some() && !self.still_connected(Duration::ZERO).await {
            self.session += 1;
        }
        if self.conn.is_none() {
            self.open().await?;
        }
        Ok(self
            .conn
            .as_ref()
            .and_then(|c| c.chars.get(endpoint).cloned()))
    }

    async fn open(&mut self) -> Result<(), LinkError> {
        let device = self.find().await?;
        let name = device.name().await.ok().flatten().unwrap_or_default();
        let reply = self.opts.reply;
        match tokio::time::timeout(reply, device.connect()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(unreachable(format!("connecting to {name:?}: {e}"))),
            Err(_) => {
                return Err(unreachable(format!(
                    "connecting to {name:?}: no connection within {} ms",
                    reply.as_millis()
                )))
            }
        }
        let (chars, gatt) = tokio::time::timeout(reply, map_endpoints(&device))
            .await
            .map_err(|_| unreachable("GATT discovery timed out"))?
            .map_err(|e| unreachable(format!("GATT discovery on {name:?}: {e}")))?;
        self.conn = Some(Conn {
            device,
            name,
            chars,
            gatt,
        });
        Ok(())
    }

    /// Scans until the peer advertises.
    async fn find(&self) -> Result<Device, LinkError> {
        let _ = self.adapter.set_powered(true).await;
        let scan = self.opts.scan;
        let search = async {
            let mut events = self
                .adapter
                .discover_devices_with_changes()
                .await
                .map_err(unreachable)?;
            while let Some(ev) = events.next().await {
                if let AdapterEvent::DeviceAdded(addr) = ev {
                    let dev = self.adapter.device(addr).map_err(unreachable)?;
                    if let Ok(Some(n)) = dev.name().await {
                        if self.peer.matches(&n) {
                            return Ok(dev);
                        }
                    }
                }
            }
            Err(unreachable("discovery ended"))
        };
        match tokio::time::timeout(scan, search).await {
            Ok(r) => r,
            Err(_) => Err(unreachable(format!(
                "no device {} advertised on {} within {} ms",
                self.peer.describe(),
                self.adapter.name(),
                scan.as_millis()
            ))),
        }
    }

    /// After an ATT error: did the device drop the link (Bluedroid)?
    async fn dropped_after_error(&mut self) -> bool {
        let wait = match self.opts.stack {
            Some(BleStack::Bluedroid) => Duration::from_secs(1),
            Some(BleStack::Nimble) => Duration::ZERO,
            None => Duration::from_millis(100),
        };
        let up = self.still_connected(wait).await;
        if !up {
            self.session += 1;
        }
        !up
    }

    async fn exchange(&mut self, endpoint: &str, body: &[u8]) -> Result<Answer, LinkError> {
        let Some(ch) = self.characteristic(endpoint).await? else {
            return Ok(Answer::NoResponse(format!(
                "the device has no characteristic described (0x2901) as {endpoint:?}"
            )));
        };
        let reply = self.opts.reply;
        let req = CharacteristicWriteRequest {
            op_type: WriteOp::Request,
            ..Default::default()
        };
        match tokio::time::timeout(reply, ch.write_ext(body, &req)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let dropped = if self.dropped_after_error().await {
                    "; the device then dropped the link (the next request connects again: a new session)"
                } else {
                    "; the link stays up"
                };
                return Ok(Answer::NoResponse(format!(
                    "ATT error on the write: {e}{dropped}"
                )));
            }
            Err(_) => {
                return Ok(Answer::NoResponse(format!(
                    "no write response within {} ms",
                    reply.as_millis()
                )))
            }
        }
        Ok(match tokio::time::timeout(reply, ch.read()).await {
            Ok(Ok(v)) => Answer::Data(v),
            Ok(Err(e)) => Answer::NoResponse(format!("the write succeeded, the read failed: {e}")),
            Err(_) => {
                Answer::NoResponse(format!("no read response within {} ms", reply.as_millis()))
            }
        })
    }

    fn disconnect(&mut self) {
        if let Some(conn) = self.conn.take() {
            let reply = self.opts.reply;
            let _ = self.bus.block_on(async move {
                tokio::time::timeout(reply, conn.device.disconnect()).await
            });
        }
    }
}

/// Reads every 0x2901 descriptor: endpoint name → characteristic, and the whole table for cases.
async fn map_endpoints(
    device: &Device,
) -> bluer::Result<(BTreeMap<String, Characteristic>, Vec<GattChar>)> {
    let cud = Uuid::from_u16(CUD);
    let mut chars = BTreeMap::new();
    let mut gatt = Vec::new();
    for svc in device.services().await? {
        let service = svc.uuid().await?;
        for ch in svc.characteristics().await? {
            let mut descriptions = Vec::new();
            for d in ch.descriptors().await? {
                if d.uuid().await? == cud {
                    descriptions.push(d.read().await?);
                }
            }
            if let Some(first) = descriptions.first() {
                chars
                    .entry(String::from_utf8_lossy(first).into_owned())
                    .or_insert_with(|| ch.clone());
            }
            gatt.push(GattChar {
                service,
                uuid: ch.uuid().await?,
                descriptions,
            });
        }
    }
    Ok((chars, gatt))
}

impl Link for BleLink {
    fn transport(&self) -> Transport {
        Transport::Ble
    }

    fn request(&mut self, endpoint: &str, body: &[u8]) -> Result<Answer, LinkError> {
        let bus = self.bus.clone();
        bus.block_on(self.exchange(endpoint, body))
    }

    fn new_session(&mut self) -> Result<(), LinkError> {
        self.disconnect();
        self.session += 1;
        Ok(())
    }

    fn session(&self) -> u32 {
        self.session
    }

    fn access(&mut self) -> Access<'_> {
        Access::Gatt(self)
    }
}

impl GattAccess for BleLink {
    fn gatt(&self) -> &[GattChar] {
        self.conn.as_ref().map_or(&[], |c| c.gatt.as_slice())
    }
    fn mtu(&mut self, endpoint: &str) -> Result<Option<usize>, LinkError> {
        let bus = self.bus.clone();
        bus.block_on(async {
            let ch = self.characteristic(endpoint).await?;
            Ok(match ch {
                Some(c) => c.mtu().await.ok(),
                None => None,
            })
        })
    }
    fn read_only(&mut self, endpoint: &str) -> Result<Result<Vec<u8>, String>, LinkError> {
        let bus = self.bus.clone();
        let reply = self.opts.reply;
        bus.block_on(async {
            let Some(ch) = self.characteristic(endpoint).await? else {
                return Ok(Err(format!("no characteristic described as {endpoint:?}")));
            };
            Ok(match tokio::time::timeout(reply, ch.read()).await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(format!("read failed: {e}")),
                Err(_) => Err(format!("no read response within {} ms", reply.as_millis())),
            })
        })
    }
    fn connected_after(&mut self, wait: Duration) -> bool {
        let bus = self.bus.clone();
        bus.block_on(self.still_connected(wait))
    }
}

/// A device advertising over BLE (`ble:<name-prefix>`); it keeps its state between cases, and takes one
/// central at a time.
pub struct BleDut {
    host: std::sync::Arc<host::BleHost>,
    prefix: String,
    opts: BleOptions,
}

impl BleDut {
    /// The first device whose advertised name starts with `prefix`, with the device file's settings.
    pub fn new(prefix: String, desc: &crate::description::Description) -> Result<Self, String> {
        let host = host::BleHost::get(desc.ble.adapter.as_deref())?;
        let opts = BleOptions {
            adapter: Some(host.central().to_owned()),
            scan: Duration::from_millis(desc.ble.scan_ms),
            reply: desc.reply_timeout(),
            stack: desc.ble.stack,
        };
        Ok(Self { host, prefix, opts })
    }
}

impl super::Dut for BleDut {
    fn label(&self) -> String {
        format!("ble:{}", self.prefix)
    }
    fn transport(&self) -> Transport {
        Transport::Ble
    }
    fn fresh_per_connect(&self) -> bool {
        false
    }
    fn parallelism(&self) -> usize {
        1
    }
    fn connect(&self, _boot: &super::Boot) -> Result<Box<dyn Link>, LinkError> {
        let lease = self.host.bus_lease().map_err(unreachable)?;
        Ok(Box::new(BleLink::connect(
            lease.bus().clone(),
            Peer::Prefix(self.prefix.clone()),
            self.opts.clone(),
            Some(Box::new(lease)),
        )?))
    }
}

impl Drop for BleLink {
    fn drop(&mut self) {
        self.disconnect();
    }
}

/// The service UUID with an endpoint's 16-bit id in place (spec §4.2.1): bytes 12 and 13 of the
/// little-endian array, i.e. the low 16 bits of the first group of the canonical form.
pub fn endpoint_uuid(service: Uuid, id: u16) -> Uuid {
    let v = service.as_u128();
    let mask = 0xffffu128 << 96;
    Uuid::from_u128((v & !mask) | (u128::from(id) << 96))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_uuids_follow_the_spec_examples() {
        let svc: Uuid = "021a9004-0382-4aea-bff4-6b3f1c5adfb4".parse().unwrap();
        assert_eq!(
            endpoint_uuid(svc, 0xff51).to_string(),
            "021aff51-0382-4aea-bff4-6b3f1c5adfb4"
        );
        let svc: Uuid = "1775244d-6b43-439b-877c-060f2d9bed07".parse().unwrap();
        assert_eq!(
            endpoint_uuid(svc, 0xff51).to_string(),
            "1775ff51-6b43-439b-877c-060f2d9bed07"
        );
    }

    #[test]
    fn peers_match_names() {
        assert!(Peer::Name("PROV_0a1b2c".into()).matches("PROV_0a1b2c"));
        assert!(!Peer::Name("PROV_0a1b2c".into()).matches("PROV_0a1b2"));
        assert!(Peer::Prefix("PROV_".into()).matches("PROV_0a1b2c"));
    }
}
