//! The GATT side of one boot: the service and its characteristics as bluer `Fun` callbacks, the links
//! (one per connected central: its protocomm session and its stored values) and the write/read procedure
//! of spec §4.2.3.
//!
//! Everything a central does goes through one async lock ([`Connections`]): the chip's BTC task handles GATT
//! events one at a time and runs protocomm inside the write handler, so a read waits for a write in
//! progress, and connects and disconnects are ordered with requests.
//!
//! Logs carry lengths, endpoint names and addresses, never payload bytes (they may hold secrets).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bluer::gatt::local::{
    Application, Characteristic, CharacteristicRead, CharacteristicReadRequest,
    CharacteristicWrite, CharacteristicWriteMethod, CharacteristicWriteRequest, Descriptor,
    DescriptorRead, ReqError, ReqResult, Service,
};
use bluer::{Adapter, Address, Uuid};
use futures::FutureExt;
use tokio::sync::Mutex;

use super::profile::{self, BleStack, WriteCheck};
use crate::misbehave::Misbehaviour;
use crate::runtime::{DeviceHandle, EndpointEntry, RequestError};
use crate::SessionId;

/// How long Bluedroid takes between the ATT error response and tearing the link down. The delay lets the
/// D-Bus error reply for the write leave before the disconnect call, so the central sees the error first.
const DISCONNECT_AFTER_ERROR: Duration = Duration::from_millis(20);

/// The stack profile in force for this run.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    pub(super) stack: BleStack,
    /// The device's local MTU (`--ble-mtu`).
    pub(super) mtu: u16,
    /// Largest write and largest response.
    pub(super) max_value: usize,
}

/// A connected central.
struct Connection {
    session: SessionId,
    /// Stored response per endpoint BLE id.
    values: HashMap<u16, Vec<u8>>,
}

#[derive(Default)]
struct Connections {
    by_addr: HashMap<Address, Connection>,
    next_session: SessionId,
}

/// State shared by the callbacks of one registered application (one boot).
pub(super) struct Gatt {
    handle: DeviceHandle,
    boot: u64,
    adapter: Adapter,
    limits: Limits,
    links: Mutex<Connections>,
}

impl Gatt {
    pub(super) fn new(handle: DeviceHandle, boot: u64, adapter: Adapter, limits: Limits) -> Self {
        Self {
            handle,
            boot,
            adapter,
            limits,
            links: Mutex::new(Connections::default()),
        }
    }

    /// The application: one primary service, one Read+Write characteristic per endpoint (in id order) with
    /// a read-only 0x2901 naming it. No 0x2902: nothing notifies (spec §4.2.2).
    pub(super) fn application(
        self: &Arc<Self>,
        service: Uuid,
        endpoints: &[EndpointEntry],
    ) -> Application {
        let characteristics = endpoints
            .iter()
            .map(|e| self.characteristic(service, &e.name, e.ble_id))
            .collect();
        Application {
            services: vec![Service {
                uuid: service,
                primary: true,
                characteristics,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn characteristic(self: &Arc<Self>, service: Uuid, name: &str, id: u16) -> Characteristic {
        let endpoint: Arc<str> = Arc::from(name);
        let reader = Arc::clone(self);
        let writer = Arc::clone(self);
        let description: Arc<[u8]> = Arc::from(name.as_bytes());
        Characteristic {
            uuid: profile::characteristic_uuid(service, id),
            read: Some(CharacteristicRead {
                read: true,
                fun: Box::new(move |req| {
                    let gatt = Arc::clone(&reader);
                    async move { gatt.read(id, req).await }.boxed()
                }),
                ..Default::default()
            }),
            write: Some(CharacteristicWrite {
                write: true,
                method: CharacteristicWriteMethod::Fun(Box::new(move |value, req| {
                    let gatt = Arc::clone(&writer);
                    let endpoint = Arc::clone(&endpoint);
                    async move { gatt.write(&endpoint, id, value, req).await }.boxed()
                })),
                ..Default::default()
            }),
            descriptors: vec![Descriptor {
                uuid: profile::user_description_uuid(),
                read: Some(DescriptorRead {
                    read: true,
                    fun: Box::new(move |req| {
                        let description = Arc::clone(&description);
                        async move { profile::read_from(&description, req.offset) }.boxed()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// A central connected (or sent its first request): a new link opens a new protocomm session, which
    /// closes any previous one (spec §4.2.3, session mapping).
    async fn link<'a>(&self, links: &'a mut Connections, addr: Address) -> &'a mut Connection {
        let Connections {
            by_addr,
            next_session,
        } = links;
        match by_addr.entry(addr) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let session = *next_session;
                *next_session = next_session.wrapping_add(1);
                tracing::info!(central = %addr, session, "BLE central connected: new session");
                self.handle.open_session(self.boot, session).await;
                v.insert(Connection {
                    session,
                    values: HashMap::new(),
                })
            }
        }
    }

    /// The central's link came up.
    pub(super) async fn connected(&self, addr: Address) {
        let mut links = self.links.lock().await;
        self.link(&mut links, addr).await;
    }

    /// The central's link went down: its session closes and its stored values are forgotten.
    pub(super) async fn disconnected(&self, addr: Address) {
        let mut links = self.links.lock().await;
        self.unlink(&mut links, addr).await;
    }

    async fn unlink(&self, links: &mut Connections, addr: Address) {
        if let Some(link) = links.by_addr.remove(&addr) {
            tracing::info!(central = %addr, session = link.session, "BLE central disconnected: session closed");
            self.handle.close_session(self.boot, link.session).await;
        }
    }

    /// How many centrals are connected.
    pub(super) async fn connections(&self) -> usize {
        self.links.lock().await.by_addr.len()
    }

    /// The service stops (provisioning ended or the device rebooted): the stack goes down, so every link
    /// drops and its session closes.
    pub(super) async fn shut_down(&self) {
        let mut links = self.links.lock().await;
        let addrs: Vec<Address> = links.by_addr.keys().copied().collect();
        for addr in addrs {
            self.unlink(&mut links, addr).await;
            self.drop_link(addr, Duration::ZERO);
        }
    }

    /// Ask bluetoothd to end the link to `addr` after `delay`, without waiting.
    fn drop_link(&self, addr: Address, delay: Duration) {
        let device = match self.adapter.device(addr) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(central = %addr, error = %e, "cannot disconnect the central");
                return;
            }
        };
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(e) = device.disconnect().await {
                tracing::debug!(central = %addr, error = %e, "disconnect failed (already gone?)");
            }
        });
    }

    /// A Write Request: validate, run protocomm under the link's session, store the response.
    async fn write(
        &self,
        endpoint: &str,
        id: u16,
        value: Vec<u8>,
        req: CharacteristicWriteRequest,
    ) -> ReqResult<()> {
        let addr = req.device_address;
        let mut links = self.links.lock().await;
        let session = self.link(&mut links, addr).await.session;
        let len = value.len();
        match profile::check_write(self.limits.stack, self.limits.max_value, len, req.offset) {
            WriteCheck::Process => {}
            WriteCheck::AcceptIgnored => {
                tracing::debug!(central = %addr, %endpoint, "empty write accepted, not processed");
                return Ok(());
            }
            WriteCheck::Reject(e) => {
                tracing::info!(central = %addr, %endpoint, len, offset = req.offset, error = %e, "write refused");
                return Err(e);
            }
        }
        match self
            .handle
            .request(self.boot, endpoint, session, value)
            .await
        {
            Ok(response) if response.len() > self.limits.max_value => {
                tracing::warn!(central = %addr, %endpoint, len = response.len(), "response too long for the characteristic");
                Err(ReqError::InvalidValueLength)
            }
            Ok(response) => {
                tracing::debug!(central = %addr, %endpoint, session, len, reply = response.len(), "request handled");
                if let Some(link) = links.by_addr.get_mut(&addr) {
                    link.values.insert(id, response);
                }
                Ok(())
            }
            Err(e) => {
                match &e {
                    RequestError::Rejected(_) => {
                        tracing::info!(central = %addr, %endpoint, session, error = %e, "protocomm error");
                    }
                    RequestError::Rebooted | RequestError::Gone => {
                        tracing::info!(central = %addr, %endpoint, error = %e, "no response: device rebooted");
                    }
                }
                if self.limits.stack.disconnects_on_error() {
                    tracing::info!(central = %addr, "Bluedroid profile: disconnecting the central after the error");
                    self.unlink(&mut links, addr).await;
                    self.drop_link(addr, DISCONNECT_AFTER_ERROR);
                }
                Err(ReqError::Failed)
            }
        }
    }

    /// A Read (or Read Blob) Request: the stored response from `offset`, at most MTU − 1 bytes.
    async fn read(&self, id: u16, req: CharacteristicReadRequest) -> ReqResult<Vec<u8>> {
        let mut links = self.links.lock().await;
        let link = self.link(&mut links, req.device_address).await;
        let value = link.values.get(&id).map_or(&[][..], Vec::as_slice);
        let offset = if self
            .handle
            .misbehaviours()
            .contains(&Misbehaviour::BleIgnoreReadOffset)
        {
            0
        } else {
            req.offset
        };
        let out = profile::read_slice(value, offset, self.limits.mtu, req.mtu);
        tracing::trace!(central = %req.device_address, id, offset = req.offset, mtu = req.mtu, len = value.len(), "read");
        out
    }
}
