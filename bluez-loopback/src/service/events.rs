//! Bus events: the actor's event loop entries, the discovery tick (RSSI updates), forwarded
//! notifications (an app's PropertiesChanged) and clients leaving the bus.

use dbus::arg::PropMap;
use dbus::Message;

use super::helpers::{pass_error, sender_of};
use super::state::{DevRole, Kind, St};
use super::{Ev, CHAR, DEVICE};
use crate::values::{bytes_of, v};

impl St {
    pub(super) fn on_event(&mut self, ev: Ev) {
        match ev {
            Ev::Call(m) => self.on_call(m),
            Ev::Signal(m) => self.on_signal(&m),
            Ev::AppObjects {
                call,
                owner,
                adapter,
                app,
                res,
            } => self.on_app_objects(&call, owner, adapter, app, res),
            Ev::AdvProps {
                call,
                owner,
                adapter,
                adv,
                res,
            } => self.on_adv_props(&call, owner, adapter, adv, res),
            Ev::NotifyDone {
                call,
                mirror,
                key,
                res,
            } => match res {
                Ok(()) => {
                    *self.notify_refs.entry(key).or_default() += 1;
                    self.set_props(&mirror, CHAR, vec![("Notifying", v(true))], false);
                    self.reply_ok(&call);
                }
                Err(e) => self.send(pass_error(&call, &e)),
            },
        }
    }

    pub(super) fn on_tick(&mut self) {
        self.rssi_flip = !self.rssi_flip;
        let rssi: i16 = if self.rssi_flip { -45 } else { -46 };
        for a in self.scanning_adapters() {
            self.ensure_remote_devices(&a);
            let prefix = format!("/org/bluez/{a}/dev_");
            let live: Vec<String> = self
                .devices
                .iter()
                .filter(|(p, r)| {
                    p.starts_with(&prefix)
                        && matches!(r, DevRole::Remote { periph } if self.periphs.get(periph).is_some_and(|x| !x.advs.is_empty()))
                })
                .map(|(p, _)| p.clone())
                .collect();
            for p in live {
                self.set_props(&p, DEVICE, vec![("RSSI", v(rssi))], false);
            }
        }
    }

    pub(super) fn on_signal(&mut self, m: &Message) {
        let sender = sender_of(m);
        if sender == self.me {
            return;
        }
        match m.member().as_deref() {
            Some("NameOwnerChanged") => {
                if let Ok((name, _old, new)) = m.read3::<String, String, String>() {
                    if new.is_empty() && name.starts_with(':') {
                        self.owner_gone(&name);
                    }
                }
            }
            Some("PropertiesChanged") => {
                let Some(p) = m.path().map(|p| p.to_string()) else {
                    return;
                };
                let Ok((iface, changed)) = m.read2::<String, PropMap>() else {
                    return;
                };
                if iface != CHAR {
                    return;
                }
                let Some(value) = changed.get("Value").and_then(|x| bytes_of(&*x.0)) else {
                    return;
                };
                let targets: Vec<(String, u64)> = self
                    .mirrors
                    .iter()
                    .filter(|(mp, mi)| {
                        mi.kind == Kind::Char
                            && mi.owner == sender
                            && mi.app_path == p
                            && self.is_true(mp, CHAR, "Notifying")
                    })
                    .map(|(mp, mi)| (mp.clone(), mi.conn))
                    .collect();
                let mut val = value;
                val.truncate(usize::from(self.opts.mtu - 3));
                for (mp, _) in targets {
                    self.set_props(&mp, CHAR, vec![("Value", v(val.clone()))], true);
                }
            }
            _ => {}
        }
    }

    /// A bus client left: drop its discovery sessions, peripherals and connections.
    pub(super) fn owner_gone(&mut self, name: &str) {
        let adapters: Vec<String> = self.adapters.keys().cloned().collect();
        for a in adapters {
            self.stop_session(&a, name);
        }
        let conns: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.initiator == name || self.periphs.get(&c.periph).is_some_and(|p| p.owner == name)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in conns {
            self.teardown(id);
        }
        let gone: Vec<u64> = self
            .periphs
            .iter()
            .filter(|(_, p)| p.owner == name)
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(p) = self.periphs.get_mut(&id) {
                p.advs.clear();
                p.apps.clear();
                let adapter = p.adapter.clone();
                self.update_active_instances(&adapter);
            }
            self.drop_periph_if_idle(id);
        }
        self.notify_refs.retain(|(o, _), _| o != name);
    }
}
