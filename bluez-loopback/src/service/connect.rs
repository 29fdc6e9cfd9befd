//! `Device1` connections: Connect builds the peer device and the mirrored GATT tree on the
//! central's side; Disconnect, RemoveDevice and vanished clients tear it down.

use std::collections::{BTreeMap, HashMap};

use dbus::arg::PropMap;
use dbus::{Message, Path};

use super::helpers::{detach, path, sender_of};
use super::state::{Attr, Conn, DevRole, Kind, Mirror, St};
use super::{CCC_UUID, CHAR, DESC, DEVICE, SERVICE};
use crate::values::{strings_of, v, Addr};

impl St {
    pub(super) fn device_call(&mut self, msg: &Message, p: &str, member: &str) {
        match member {
            "Connect" => self.connect(msg, p),
            "Disconnect" => {
                self.disconnect_device(p);
                self.reply_ok(msg);
            }
            "Pair" | "ConnectProfile" | "DisconnectProfile" => self.reply_err(
                msg,
                "org.bluez.Error.NotSupported",
                "pairing and profiles are not modelled by bluez-loopback",
            ),
            "CancelPairing" => {
                self.reply_err(msg, "org.bluez.Error.DoesNotExist", "Does Not Exist")
            }
            _ => self.reply_err(msg, "org.freedesktop.DBus.Error.UnknownMethod", member),
        }
    }

    pub(super) fn connect(&mut self, msg: &Message, dp: &str) {
        let pid = match self.devices.get(dp) {
            Some(DevRole::Remote { periph }) => *periph,
            _ => {
                return self.reply_err(
                    msg,
                    "org.bluez.Error.NotSupported",
                    "this device is a central; it cannot be connected to",
                )
            }
        };
        if self.conns.values().any(|c| c.device_path == dp) {
            return self.reply_ok(msg);
        }
        let Some(periph) = self.periphs.get(&pid) else {
            return self.reply_err(
                msg,
                "org.bluez.Error.Failed",
                "le-connection-abort-by-local",
            );
        };
        let central_adapter = Self::adapter_name(dp);
        let Some(cad) = self.adapters.get(&central_adapter) else {
            return;
        };
        // Centrals use their own (random-like) address, distinct from every peripheral address.
        let caddr = Addr([0x0A, 0xB1, 0xE0, 0x00, 0xC0, cad.index + 1]);
        let padapter = periph.adapter.clone();
        let owner = periph.owner.clone();
        let attrs: Vec<Attr> = periph
            .apps
            .iter()
            .flat_map(|a| a.attrs.iter().cloned())
            .collect();
        let peer_path = format!("/org/bluez/{padapter}/dev_{}", caddr.underscore());
        let id = self.alloc_id();
        let sender = sender_of(msg);
        tracing::debug!(central = %dp, peer = %peer_path, "connect");

        self.set_props(dp, DEVICE, vec![("Connected", v(true))], false);
        match self.devices.get_mut(&peer_path) {
            Some(DevRole::Peer { conns }) => {
                conns.insert(id);
            }
            Some(DevRole::Remote { .. }) => {}
            None => {
                let mut props = PropMap::new();
                props.insert("Address".into(), v(caddr.colon()));
                props.insert("AddressType".into(), v("random".to_owned()));
                props.insert("Alias".into(), v(caddr.dash()));
                props.insert("Adapter".into(), v(path(&format!("/org/bluez/{padapter}"))));
                props.insert("UUIDs".into(), v(Vec::<String>::new()));
                for k in ["Paired", "Bonded", "Trusted", "Blocked", "LegacyPairing"] {
                    props.insert(k.into(), v(false));
                }
                props.insert("Connected".into(), v(true));
                props.insert("ServicesResolved".into(), v(true));
                let mut ifaces = BTreeMap::new();
                ifaces.insert(DEVICE.to_owned(), props);
                self.devices.insert(
                    peer_path.clone(),
                    DevRole::Peer {
                        conns: [id].into_iter().collect(),
                    },
                );
                self.add_object(&peer_path, ifaces);
            }
        }

        let mut mirrors = Vec::new();
        let mut by_app: HashMap<String, String> = HashMap::new();
        let mtu = self.opts.mtu;
        for a in &attrs {
            let (mp, iface, props) = match a.kind {
                Kind::Service => {
                    let mp = format!("{dp}/service{:04x}", a.handle);
                    let mut props = PropMap::new();
                    props.insert("UUID".into(), v(a.uuid.clone()));
                    props.insert("Device".into(), v(path(dp)));
                    props.insert("Primary".into(), v(a.primary));
                    props.insert("Includes".into(), v(Vec::<Path<'static>>::new()));
                    props.insert("Handle".into(), v(a.handle));
                    (mp, SERVICE, props)
                }
                Kind::Char => {
                    let Some(sp) = a.parent.as_ref().and_then(|x| by_app.get(x)) else {
                        continue;
                    };
                    let mp = format!("{sp}/char{:04x}", a.decl);
                    let mut props = PropMap::new();
                    props.insert("UUID".into(), v(a.uuid.clone()));
                    props.insert("Service".into(), v(path(sp)));
                    props.insert("Flags".into(), v(a.flags.clone()));
                    props.insert("Value".into(), v(Vec::<u8>::new()));
                    props.insert("MTU".into(), v(mtu));
                    props.insert("Notifying".into(), v(false));
                    props.insert("Handle".into(), v(a.handle));
                    (mp, CHAR, props)
                }
                Kind::Desc | Kind::Ccc => {
                    let Some(cp) = a.parent.as_ref().and_then(|x| by_app.get(x)) else {
                        continue;
                    };
                    let mp = format!("{cp}/desc{:04x}", a.handle);
                    let props = desc_props(&a.uuid, cp, a.handle);
                    (mp, DESC, props)
                }
            };
            by_app.insert(a.app_path.clone(), mp.clone());
            let char_mirror = match a.kind {
                Kind::Desc | Kind::Ccc => a
                    .parent
                    .as_ref()
                    .and_then(|x| by_app.get(x))
                    .cloned()
                    .unwrap_or_default(),
                _ => mp.clone(),
            };
            self.add_mirror(
                &mp,
                iface,
                props,
                Mirror {
                    conn: id,
                    kind: a.kind,
                    owner: owner.clone(),
                    app_path: a.app_path.clone(),
                    flags: a.flags.clone(),
                    char_mirror: char_mirror.clone(),
                },
            );
            mirrors.push(mp.clone());
            if let (Kind::Char, Some(ccc)) = (a.kind, a.ccc) {
                // Synthesized Client Characteristic Configuration descriptor.
                let dpth = format!("{mp}/desc{ccc:04x}");
                self.add_mirror(
                    &dpth,
                    DESC,
                    desc_props(CCC_UUID, &mp, ccc),
                    Mirror {
                        conn: id,
                        kind: Kind::Ccc,
                        owner: owner.clone(),
                        app_path: a.app_path.clone(),
                        flags: vec!["read".into(), "write".into()],
                        char_mirror: mp.clone(),
                    },
                );
                mirrors.push(dpth);
            }
        }
        // Like bluetoothd, list the GATT services' UUIDs on the device once resolved.
        let mut uuids: Vec<String> = self
            .prop(dp, DEVICE, "UUIDs")
            .map(|x| strings_of(&*x.0))
            .unwrap_or_default();
        for a in attrs.iter().filter(|a| a.kind == Kind::Service) {
            if !uuids.contains(&a.uuid) {
                uuids.push(a.uuid.clone());
            }
        }
        self.conns.insert(
            id,
            Conn {
                periph: pid,
                initiator: sender,
                device_path: dp.to_owned(),
                peer_path,
                mirrors,
            },
        );
        self.set_props(
            dp,
            DEVICE,
            vec![("UUIDs", v(uuids)), ("ServicesResolved", v(true))],
            false,
        );
        self.reply_ok(msg);
    }

    /// Publishes the mirror object `mp` with its one GATT interface.
    fn add_mirror(&mut self, mp: &str, iface: &str, props: PropMap, m: Mirror) {
        let mut ifaces = BTreeMap::new();
        ifaces.insert(iface.to_owned(), props);
        self.add_object(mp, ifaces);
        self.mirrors.insert(mp.to_owned(), m);
    }

    pub(super) fn drop_mirror(&mut self, mp: &str) {
        let Some(m) = self.mirrors.remove(mp) else {
            return;
        };
        if m.kind == Kind::Char && self.is_true(mp, CHAR, "Notifying") {
            self.release_notify(&m.owner, &m.app_path);
        }
        if let Some(c) = self.conns.get_mut(&m.conn) {
            c.mirrors.retain(|x| x != mp);
        }
        self.remove_object(mp);
    }

    pub(super) fn release_notify(&mut self, owner: &str, app_path: &str) {
        let key = (owner.to_owned(), app_path.to_owned());
        let Some(n) = self.notify_refs.get_mut(&key) else {
            return;
        };
        *n -= 1;
        if *n == 0 {
            self.notify_refs.remove(&key);
            let proxy = self.app_proxy(owner.to_owned(), app_path.to_owned());
            let fut = proxy.method_call::<(), _>(CHAR, "StopNotify", ());
            detach(fut, "app StopNotify failed");
        }
    }

    /// Tears down every connection in which the device `dev` is either side.
    pub(super) fn disconnect_device(&mut self, dev: &str) {
        let ids: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| c.device_path == dev || c.peer_path == dev)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.teardown(id);
        }
    }

    pub(super) fn teardown(&mut self, id: u64) {
        let Some(c) = self.conns.get(&id) else { return };
        let (dp, peer, pid) = (c.device_path.clone(), c.peer_path.clone(), c.periph);
        let mirrors = c.mirrors.clone();
        tracing::debug!(central = %dp, peer = %peer, "disconnect");
        self.set_props(&dp, DEVICE, vec![("ServicesResolved", v(false))], false);
        for mp in mirrors.iter().rev() {
            self.drop_mirror(mp);
        }
        self.set_props(&dp, DEVICE, vec![("Connected", v(false))], false);
        self.conns.remove(&id);
        let mut remove_peer = false;
        if let Some(DevRole::Peer { conns }) = self.devices.get_mut(&peer) {
            conns.remove(&id);
            remove_peer = conns.is_empty();
        }
        if remove_peer {
            self.set_props(
                &peer,
                DEVICE,
                vec![("ServicesResolved", v(false)), ("Connected", v(false))],
                false,
            );
            self.devices.remove(&peer);
            self.remove_object(&peer);
        }
        self.drop_periph_if_idle(pid);
    }
}

/// The properties of a mirrored descriptor.
fn desc_props(uuid: &str, char_mirror: &str, handle: u16) -> PropMap {
    let mut props = PropMap::new();
    props.insert("UUID".into(), v(uuid.to_owned()));
    props.insert("Characteristic".into(), v(path(char_mirror)));
    props.insert("Value".into(), v(Vec::<u8>::new()));
    props.insert("Handle".into(), v(handle));
    props
}
