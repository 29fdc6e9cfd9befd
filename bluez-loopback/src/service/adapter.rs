//! `Adapter1` and discovery: discovery sessions, advertisements shown as remote `Device1`s,
//! and the peripherals' life cycle (address allocation, removal once idle).

use std::collections::{BTreeMap, BTreeSet};

use dbus::arg::PropMap;
use dbus::{Message, Path};

use super::helpers::{path, sender_of};
use super::state::{DevRole, Periph, St};
use super::{ADAPTER, ADV_MANAGER, DEVICE};
use crate::adv;
use crate::values::{v, Addr, Val};

impl St {
    pub(super) fn adapter_name(p: &str) -> String {
        p.trim_start_matches("/org/bluez/")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    pub(super) fn adapter_call(&mut self, msg: &Message, p: &str, member: &str) {
        let a = Self::adapter_name(p);
        let sender = sender_of(msg);
        match member {
            "StartDiscovery" => {
                if !self.is_true(p, ADAPTER, "Powered") {
                    return self.reply_err(msg, "org.bluez.Error.NotReady", "Resource Not Ready");
                }
                let Some(ad) = self.adapters.get_mut(&a) else {
                    return;
                };
                ad.sessions.insert(sender);
                self.set_props(p, ADAPTER, vec![("Discovering", v(true))], false);
                self.ensure_remote_devices(&a);
                self.reply_ok(msg);
            }
            "StopDiscovery" => {
                if !self
                    .adapters
                    .get(&a)
                    .is_some_and(|ad| ad.sessions.contains(&sender))
                {
                    return self.reply_err(msg, "org.bluez.Error.Failed", "No discovery started");
                }
                self.stop_session(&a, &sender);
                self.reply_ok(msg);
            }
            "SetDiscoveryFilter" => {
                if msg.read1::<PropMap>().is_err() {
                    return self.reply_err(
                        msg,
                        "org.bluez.Error.InvalidArguments",
                        "expected a{sv}",
                    );
                }
                self.reply_ok(msg);
            }
            "GetDiscoveryFilters" => {
                let f: Vec<String> = [
                    "UUIDs",
                    "RSSI",
                    "Pathloss",
                    "Transport",
                    "DuplicateData",
                    "Discoverable",
                    "Pattern",
                ]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
                self.send(msg.method_return().append1(f));
            }
            "RemoveDevice" => {
                let Ok(dev) = msg.read1::<Path>().map(|x| x.to_string()) else {
                    return self.reply_err(msg, "org.bluez.Error.InvalidArguments", "expected o");
                };
                if !dev.starts_with(&format!("{p}/dev_")) || !self.devices.contains_key(&dev) {
                    return self.reply_err(msg, "org.bluez.Error.DoesNotExist", "Does Not Exist");
                }
                self.disconnect_device(&dev);
                if self.devices.remove(&dev).is_some() {
                    self.remove_object(&dev);
                }
                self.reply_ok(msg);
            }
            _ => self.reply_err(msg, "org.freedesktop.DBus.Error.UnknownMethod", member),
        }
    }

    /// Adapters with at least one discovery session.
    pub(super) fn scanning_adapters(&self) -> Vec<String> {
        self.adapters
            .iter()
            .filter(|(_, a)| !a.sessions.is_empty())
            .map(|(n, _)| n.clone())
            .collect()
    }

    pub(super) fn stop_session(&mut self, adapter: &str, client: &str) {
        let Some(ad) = self.adapters.get_mut(adapter) else {
            return;
        };
        if ad.sessions.remove(client) && ad.sessions.is_empty() {
            self.set_props(
                &format!("/org/bluez/{adapter}"),
                ADAPTER,
                vec![("Discovering", v(false))],
                false,
            );
        }
    }

    pub(super) fn remote_device_props(
        &self,
        adapter: &str,
        p: &Periph,
    ) -> Vec<(&'static str, Val)> {
        let info = p.advs.last().map(|(_, i)| i.clone()).unwrap_or_default();
        let mut uuids: Vec<String> = Vec::new();
        for (_, i) in &p.advs {
            for u in &i.uuids {
                if !uuids.contains(u) {
                    uuids.push(u.clone());
                }
            }
        }
        let mut out: Vec<(&'static str, Val)> = vec![
            ("Address", v(p.addr.colon())),
            ("AddressType", v("public".to_owned())),
            (
                "Alias",
                v(info.local_name.clone().unwrap_or_else(|| p.addr.dash())),
            ),
            ("Adapter", v(path(&format!("/org/bluez/{adapter}")))),
            ("UUIDs", v(uuids)),
            ("ManufacturerData", v(adv::manufacturer_prop(&info))),
            ("ServiceData", v(adv::service_data_prop(&info))),
        ];
        if let Some(n) = info.local_name {
            out.push(("Name", v(n)));
        }
        if let Some(t) = info.tx_power {
            out.push(("TxPower", v(t)));
        }
        if let Some(a) = info.appearance {
            out.push(("Appearance", v(a)));
        }
        out
    }

    /// Makes every live advertisement visible as a Device1 on `adapter`.
    pub(super) fn ensure_remote_devices(&mut self, adapter: &str) {
        let ids: Vec<u64> = self
            .periphs
            .iter()
            .filter(|(_, p)| {
                !(p.advs.is_empty() || (self.opts.hide_own_adapter && p.adapter == adapter))
            })
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let p = &self.periphs[&id];
            let dp = format!("/org/bluez/{adapter}/dev_{}", p.addr.underscore());
            let adv_props = self.remote_device_props(adapter, p);
            match self.devices.get(&dp) {
                Some(DevRole::Remote { periph }) if *periph == id => {
                    self.set_props(&dp, DEVICE, adv_props, false);
                }
                Some(_) => {}
                None => {
                    let mut props = PropMap::new();
                    for (k, x) in adv_props {
                        props.insert(k.to_owned(), x);
                    }
                    for k in [
                        "Paired",
                        "Bonded",
                        "Trusted",
                        "Blocked",
                        "LegacyPairing",
                        "Connected",
                        "ServicesResolved",
                    ] {
                        props.insert(k.to_owned(), v(false));
                    }
                    props.insert("RSSI".into(), v(-45i16));
                    props.insert("AdvertisingFlags".into(), v(vec![0x06u8]));
                    let mut ifaces = BTreeMap::new();
                    ifaces.insert(DEVICE.to_owned(), props);
                    self.devices
                        .insert(dp.clone(), DevRole::Remote { periph: id });
                    self.add_object(&dp, ifaces);
                }
            }
        }
    }

    /// The adapter, sender and object path argument of a `GattManager1` or
    /// `LEAdvertisingManager1` call; `None` once answered with an error.
    pub(super) fn manager_args(&self, msg: &Message, p: &str) -> Option<(String, String, String)> {
        let Ok(obj) = msg.read1::<Path>().map(|x| x.to_string()) else {
            self.reply_err(msg, "org.bluez.Error.InvalidArguments", "expected o");
            return None;
        };
        Some((Self::adapter_name(p), sender_of(msg), obj))
    }

    /// The peripheral of `owner` on `adapter` for which `has` holds.
    pub(super) fn find_periph(
        &self,
        adapter: &str,
        owner: &str,
        has: impl Fn(&Periph) -> bool,
    ) -> Option<u64> {
        self.periphs
            .iter()
            .find(|(_, x)| x.adapter == adapter && x.owner == owner && has(x))
            .map(|(id, _)| *id)
    }

    pub(super) fn periph_for(&mut self, adapter: &str, owner: &str) -> u64 {
        if let Some((id, _)) = self
            .periphs
            .iter()
            .find(|(_, p)| p.adapter == adapter && p.owner == owner)
        {
            return *id;
        }
        let ad = &self.adapters[adapter];
        let used: BTreeSet<Addr> = self.periphs.values().map(|p| p.addr).collect();
        let mut addr = ad.addr;
        let mut k = 1u8;
        while used.contains(&addr) {
            addr = Addr([0x0A, 0xB1, 0xE0, k, 0x00, ad.index + 1]);
            k = k.wrapping_add(1);
        }
        let id = self.alloc_id();
        self.periphs.insert(
            id,
            Periph {
                adapter: adapter.to_owned(),
                owner: owner.to_owned(),
                addr,
                advs: Vec::new(),
                apps: Vec::new(),
                next_handle: 1,
            },
        );
        id
    }

    /// Removes a peripheral with no advertisement, application or connection, and its Device1s.
    pub(super) fn drop_periph_if_idle(&mut self, id: u64) {
        let Some(p) = self.periphs.get(&id) else {
            return;
        };
        let connected = self.conns.values().any(|c| c.periph == id);
        let (no_advs, no_apps) = (p.advs.is_empty(), p.apps.is_empty());
        if no_advs && !connected {
            let devs: Vec<String> = self
                .devices
                .iter()
                .filter(|(_, r)| matches!(r, DevRole::Remote { periph } if *periph == id))
                .map(|(k, _)| k.clone())
                .collect();
            for d in devs {
                self.devices.remove(&d);
                self.remove_object(&d);
            }
            if no_apps {
                self.periphs.remove(&id);
            }
        }
    }

    /// The number of advertisements registered on `adapter`.
    pub(super) fn active_advs(&self, adapter: &str) -> usize {
        self.periphs
            .values()
            .filter(|p| p.adapter == adapter)
            .map(|p| p.advs.len())
            .sum()
    }

    pub(super) fn update_active_instances(&mut self, adapter: &str) {
        let n = self.active_advs(adapter);
        self.set_props(
            &format!("/org/bluez/{adapter}"),
            ADV_MANAGER,
            vec![("ActiveInstances", v(n as u8))],
            false,
        );
    }
}
