//! The actor's state: adapters, peripherals (what a bus client registered), devices,
//! connections and their mirrored GATT objects, and the initial `org.bluez` object tree.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use dbus::arg::PropMap;
use dbus::nonblock::SyncConnection;
use tokio::sync::mpsc;

use super::{Ev, ADAPTER, ADV_MANAGER, AGENT_MANAGER, GATT_MANAGER, MAX_ADVS};
use crate::adv::AdvInfo;
use crate::values::{normalize_uuid, v, Addr};
use crate::Options;

pub(super) struct AdapterSt {
    pub(super) index: u8,
    pub(super) addr: Addr,
    /// Unique names of the clients discovering on this adapter.
    pub(super) sessions: BTreeSet<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Service,
    Char,
    Desc,
    Ccc,
}

#[derive(Clone, Debug)]
pub(super) struct Attr {
    pub(super) kind: Kind,
    pub(super) app_path: String,
    pub(super) uuid: String,
    pub(super) flags: Vec<String>,
    pub(super) primary: bool,
    pub(super) parent: Option<String>,
    /// Service: its handle; characteristic: the value handle; descriptor: its handle.
    pub(super) handle: u16,
    /// Characteristic: declaration handle (names the mirror) and synthesized CCC handle.
    pub(super) decl: u16,
    pub(super) ccc: Option<u16>,
}

pub(super) struct App {
    pub(super) path: String,
    pub(super) attrs: Vec<Attr>,
}

/// One peripheral: what one bus client registered on one adapter.
pub(super) struct Periph {
    pub(super) adapter: String,
    pub(super) owner: String,
    pub(super) addr: Addr,
    pub(super) advs: Vec<(String, AdvInfo)>,
    pub(super) apps: Vec<App>,
    pub(super) next_handle: u16,
}

pub(super) enum DevRole {
    /// A peripheral as seen by centrals on the device's adapter.
    Remote { periph: u64 },
    /// A connected central as seen by the peripheral's adapter.
    Peer { conns: BTreeSet<u64> },
}

pub(super) struct Conn {
    pub(super) periph: u64,
    pub(super) initiator: String,
    pub(super) device_path: String,
    pub(super) peer_path: String,
    pub(super) mirrors: Vec<String>,
}

pub(super) struct Mirror {
    pub(super) conn: u64,
    pub(super) kind: Kind,
    pub(super) owner: String,
    pub(super) app_path: String,
    pub(super) flags: Vec<String>,
    /// The characteristic mirror this belongs to (itself for a characteristic).
    pub(super) char_mirror: String,
}

pub(super) struct St {
    pub(super) opts: Options,
    pub(super) conn: Arc<SyncConnection>,
    pub(super) me: String,
    pub(super) tx: mpsc::UnboundedSender<Ev>,
    pub(super) objects: BTreeMap<String, BTreeMap<String, PropMap>>,
    pub(super) adapters: BTreeMap<String, AdapterSt>,
    pub(super) periphs: BTreeMap<u64, Periph>,
    pub(super) devices: BTreeMap<String, DevRole>,
    pub(super) conns: BTreeMap<u64, Conn>,
    pub(super) mirrors: BTreeMap<String, Mirror>,
    pub(super) notify_refs: BTreeMap<(String, String), u32>,
    pub(super) next_id: u64,
    pub(super) rssi_flip: bool,
}

impl St {
    pub(super) fn new(
        opts: Options,
        conn: Arc<SyncConnection>,
        me: String,
        tx: mpsc::UnboundedSender<Ev>,
    ) -> Self {
        let mut st = Self {
            opts,
            conn,
            me,
            tx,
            objects: BTreeMap::new(),
            adapters: BTreeMap::new(),
            periphs: BTreeMap::new(),
            devices: BTreeMap::new(),
            conns: BTreeMap::new(),
            mirrors: BTreeMap::new(),
            notify_refs: BTreeMap::new(),
            next_id: 1,
            rssi_flip: false,
        };
        let mut root = BTreeMap::new();
        root.insert(AGENT_MANAGER.to_owned(), PropMap::new());
        root.insert("org.bluez.ProfileManager1".to_owned(), PropMap::new());
        st.objects.insert("/org/bluez".into(), root);
        for (i, name) in st.opts.adapters.clone().iter().enumerate() {
            let index = i as u8;
            let addr = Addr([0x0A, 0xB1, 0xE0, 0x00, 0x00, index + 1]);
            let mut a = PropMap::new();
            a.insert("Address".into(), v(addr.colon()));
            a.insert("AddressType".into(), v("public".to_owned()));
            a.insert("Name".into(), v("bluez-loopback".to_owned()));
            a.insert("Alias".into(), v("bluez-loopback".to_owned()));
            a.insert("Class".into(), v(0u32));
            a.insert("Powered".into(), v(true));
            a.insert("PowerState".into(), v("on".to_owned()));
            a.insert("Discoverable".into(), v(false));
            a.insert("DiscoverableTimeout".into(), v(180u32));
            a.insert("Pairable".into(), v(true));
            a.insert("PairableTimeout".into(), v(0u32));
            a.insert("Discovering".into(), v(false));
            a.insert(
                "UUIDs".into(),
                v(vec![normalize_uuid("1800"), normalize_uuid("1801")]),
            );
            a.insert("Modalias".into(), v("usb:v1D6Bp0246d054F".to_owned()));
            a.insert(
                "Roles".into(),
                v(vec!["central".to_owned(), "peripheral".to_owned()]),
            );
            let mut m = PropMap::new();
            m.insert("ActiveInstances".into(), v(0u8));
            m.insert("SupportedInstances".into(), v(MAX_ADVS));
            m.insert(
                "SupportedIncludes".into(),
                v(vec![
                    "tx-power".to_owned(),
                    "appearance".to_owned(),
                    "local-name".to_owned(),
                ]),
            );
            m.insert(
                "SupportedSecondaryChannels".into(),
                v(vec!["1M".to_owned(), "2M".to_owned(), "Coded".to_owned()]),
            );
            let mut ifaces = BTreeMap::new();
            ifaces.insert(ADAPTER.to_owned(), a);
            ifaces.insert(GATT_MANAGER.to_owned(), PropMap::new());
            ifaces.insert(ADV_MANAGER.to_owned(), m);
            st.objects.insert(format!("/org/bluez/{name}"), ifaces);
            st.adapters.insert(
                name.clone(),
                AdapterSt {
                    index,
                    addr,
                    sessions: BTreeSet::new(),
                },
            );
        }
        st
    }
}
