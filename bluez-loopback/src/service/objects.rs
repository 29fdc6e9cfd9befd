//! The `org.bluez` object tree: sending and replying, adding/removing objects with the
//! ObjectManager signals, properties with PropertiesChanged, and dispatching method calls
//! (Introspectable, Properties, ObjectManager and the org.bluez interfaces).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use dbus::arg::{PropMap, RefArg, Variant};
use dbus::channel::Sender;
use dbus::Message;

use super::call::AppProxy;
use super::helpers::{err_msg, keep, path, same};
use super::state::St;
use super::{
    Ev, ManagedObjects, ADAPTER, ADV_MANAGER, AGENT_MANAGER, CHAR, DESC, DEVICE, GATT_MANAGER,
    INTROSPECT, OM, PROPS,
};
use crate::introspect;
use crate::values::{clone_props, v, Val};

impl St {
    pub(super) fn send(&self, m: Message) {
        let _ = self.conn.send(m);
    }

    pub(super) fn reply_err(&self, call: &Message, name: &str, text: &str) {
        self.send(err_msg(call, name, text));
    }

    pub(super) fn reply_ok(&self, call: &Message) {
        self.send(call.method_return());
    }

    pub(super) fn add_object(&mut self, p: &str, ifaces: BTreeMap<String, PropMap>) {
        let sig: HashMap<String, PropMap> = ifaces
            .iter()
            .map(|(k, x)| (k.clone(), clone_props(x)))
            .collect();
        self.objects.insert(p.to_owned(), ifaces);
        self.send(
            Message::signal(&path("/"), &OM.into(), &"InterfacesAdded".into())
                .append2(path(p), sig),
        );
    }

    pub(super) fn remove_object(&mut self, p: &str) {
        if let Some(ifaces) = self.objects.remove(p) {
            let names: Vec<String> = ifaces.into_keys().collect();
            self.send(
                Message::signal(&path("/"), &OM.into(), &"InterfacesRemoved".into())
                    .append2(path(p), names),
            );
        }
    }

    /// Sets properties, emitting one PropertiesChanged with those that changed (all if `force`).
    pub(super) fn set_props(&mut self, p: &str, iface: &str, vals: Vec<(&str, Val)>, force: bool) {
        let Some(props) = self.objects.get_mut(p).and_then(|o| o.get_mut(iface)) else {
            return;
        };
        let mut changed = PropMap::new();
        for (k, val) in vals {
            if force || !props.get(k).is_some_and(|old| same(old, &val)) {
                changed.insert(k.to_owned(), Variant(val.0.box_clone()));
                props.insert(k.to_owned(), val);
            }
        }
        if !changed.is_empty() {
            self.send(
                Message::signal(&path(p), &PROPS.into(), &"PropertiesChanged".into()).append3(
                    iface,
                    changed,
                    Vec::<String>::new(),
                ),
            );
        }
    }

    pub(super) fn prop(&self, p: &str, iface: &str, k: &str) -> Option<&Val> {
        self.objects.get(p)?.get(iface)?.get(k)
    }

    /// Whether a boolean property is present and true.
    pub(super) fn is_true(&self, p: &str, iface: &str, k: &str) -> bool {
        self.prop(p, iface, k)
            .and_then(|x| x.0.as_any().downcast_ref::<bool>().copied())
            == Some(true)
    }

    pub(super) fn has_iface(&self, p: &str, iface: &str) -> bool {
        self.objects.get(p).is_some_and(|o| o.contains_key(iface))
    }

    /// A proxy for calling an application object of the bus client `owner`.
    pub(super) fn app_proxy(&self, owner: String, obj: String) -> AppProxy {
        AppProxy::new(self.conn.clone(), owner, obj)
    }

    /// Awaits an application call in a task and posts its result back to the actor as the
    /// event `ev` builds from a copy of `msg` (answered once the event is handled).
    pub(super) fn ask_app<R: Send + 'static>(
        &self,
        msg: &Message,
        fut: impl Future<Output = Result<R, dbus::Error>> + Send + 'static,
        ev: impl FnOnce(Message, Result<R, dbus::Error>) -> Ev + Send + 'static,
    ) {
        let tx = self.tx.clone();
        let call = keep(msg);
        tokio::spawn(async move {
            let res = fut.await;
            let _ = tx.send(ev(call, res));
        });
    }

    /// Replies `org.bluez.Error.Failed` for an application call (`what`) that failed.
    pub(super) fn reply_app_failed(&self, call: &Message, what: &str, e: &dbus::Error) {
        self.reply_err(
            call,
            "org.bluez.Error.Failed",
            &format!("{what} failed: {}", e.message().unwrap_or("")),
        );
    }

    pub(super) fn alloc_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(super) fn on_call(&mut self, msg: Message) {
        let p = msg.path().map(|p| p.to_string()).unwrap_or_default();
        let member = msg.member().map(|m| m.to_string()).unwrap_or_default();
        let iface = match msg.interface() {
            Some(i) => i.to_string(),
            None => self.guess_iface(&p, &member),
        };
        tracing::trace!(path = %p, %iface, %member, sender = ?msg.sender(), "call");
        match iface.as_str() {
            INTROSPECT if member == "Introspect" => self.introspect(&msg, &p),
            PROPS => self.properties(&msg, &p, &member),
            OM if member == "GetManagedObjects" && p == "/" => {
                let all: ManagedObjects = self
                    .objects
                    .iter()
                    .map(|(k, o)| {
                        (
                            path(k),
                            o.iter().map(|(i, x)| (i.clone(), clone_props(x))).collect(),
                        )
                    })
                    .collect();
                self.send(msg.method_return().append1(all));
            }
            "org.freedesktop.DBus.Peer" if member == "Ping" => self.reply_ok(&msg),
            AGENT_MANAGER | "org.bluez.ProfileManager1" if p == "/org/bluez" => self.reply_ok(&msg),
            ADAPTER if self.has_iface(&p, ADAPTER) => self.adapter_call(&msg, &p, &member),
            GATT_MANAGER if self.has_iface(&p, GATT_MANAGER) => {
                self.gatt_manager_call(&msg, &p, &member)
            }
            ADV_MANAGER if self.has_iface(&p, ADV_MANAGER) => {
                self.adv_manager_call(&msg, &p, &member)
            }
            DEVICE if self.has_iface(&p, DEVICE) => self.device_call(&msg, &p, &member),
            CHAR | DESC if self.mirrors.contains_key(&p) => {
                self.attr_call(&msg, &p, &iface, &member)
            }
            _ => {
                let name = if self.objects.contains_key(&p) || p == "/" {
                    "org.freedesktop.DBus.Error.UnknownMethod"
                } else {
                    "org.freedesktop.DBus.Error.UnknownObject"
                };
                self.reply_err(&msg, name, &format!("no method {iface}.{member} on {p}"));
            }
        }
    }

    pub(super) fn guess_iface(&self, p: &str, member: &str) -> String {
        let std = [
            (INTROSPECT, &["Introspect"][..]),
            (PROPS, &["Get", "GetAll", "Set"][..]),
            (OM, &["GetManagedObjects"][..]),
        ];
        for (i, ms) in std {
            if ms.contains(&member) {
                return i.to_owned();
            }
        }
        self.objects
            .get(p)
            .and_then(|o| {
                o.keys().find(|i| {
                    matches!(
                        (String::as_str(i), member),
                        (
                            ADAPTER,
                            "StartDiscovery"
                                | "StopDiscovery"
                                | "SetDiscoveryFilter"
                                | "GetDiscoveryFilters"
                                | "RemoveDevice"
                        ) | (
                            GATT_MANAGER,
                            "RegisterApplication" | "UnregisterApplication"
                        ) | (
                            ADV_MANAGER,
                            "RegisterAdvertisement" | "UnregisterAdvertisement"
                        ) | (DEVICE, "Connect" | "Disconnect" | "Pair" | "CancelPairing")
                            | (CHAR, _)
                            | (DESC, _)
                            | (AGENT_MANAGER, _)
                    )
                })
            })
            .cloned()
            .unwrap_or_default()
    }

    pub(super) fn introspect(&self, msg: &Message, p: &str) {
        let prefix = if p == "/" {
            "/".to_owned()
        } else {
            format!("{p}/")
        };
        let mut children: Vec<String> = self
            .objects
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter_map(|rest| rest.split('/').next())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        children.dedup();
        let obj = self.objects.get(p);
        if obj.is_none() && children.is_empty() && p != "/" {
            self.reply_err(
                msg,
                "org.freedesktop.DBus.Error.UnknownObject",
                &format!("no object {p}"),
            );
            return;
        }
        let xml = introspect::xml(obj, writable, &children, p == "/");
        self.send(msg.method_return().append1(xml));
    }

    pub(super) fn properties(&mut self, msg: &Message, p: &str, member: &str) {
        match member {
            "Get" => {
                let Ok((iface, name)) = msg.read2::<String, String>() else {
                    return self.reply_err(
                        msg,
                        "org.freedesktop.DBus.Error.InvalidArgs",
                        "expected (ss)",
                    );
                };
                match self.prop(p, &iface, &name) {
                    Some(x) => self.send(msg.method_return().append1(Variant(x.0.box_clone()))),
                    None => self.reply_err(
                        msg,
                        "org.freedesktop.DBus.Error.InvalidArgs",
                        &format!("No such property '{name}' on {iface} at {p}"),
                    ),
                }
            }
            "GetAll" => {
                let Ok(iface) = msg.read1::<String>() else {
                    return self.reply_err(
                        msg,
                        "org.freedesktop.DBus.Error.InvalidArgs",
                        "expected (s)",
                    );
                };
                match self.objects.get(p) {
                    Some(o) => {
                        let props = o.get(&iface).map(clone_props).unwrap_or_default();
                        self.send(msg.method_return().append1(props));
                    }
                    None => self.reply_err(
                        msg,
                        "org.freedesktop.DBus.Error.UnknownObject",
                        &format!("no object {p}"),
                    ),
                }
            }
            "Set" => {
                let Ok((iface, name, val)) = msg.read3::<String, String, Val>() else {
                    return self.reply_err(
                        msg,
                        "org.freedesktop.DBus.Error.InvalidArgs",
                        "expected (ssv)",
                    );
                };
                let Some(old) = self.prop(p, &iface, &name) else {
                    return self.reply_err(
                        msg,
                        "org.freedesktop.DBus.Error.InvalidArgs",
                        &format!("No such property '{name}'"),
                    );
                };
                if !writable(&iface, &name) {
                    return self.reply_err(
                        msg,
                        "org.freedesktop.DBus.Error.PropertyReadOnly",
                        &format!("Property '{name}' is not writable"),
                    );
                }
                if old.0.signature() != val.0.signature() {
                    return self.reply_err(
                        msg,
                        "org.freedesktop.DBus.Error.InvalidArgs",
                        "wrong property type",
                    );
                }
                let mut vals = vec![(name.as_str(), val)];
                if iface == ADAPTER && name == "Powered" {
                    let on = vals[0]
                        .1
                         .0
                        .as_any()
                        .downcast_ref::<bool>()
                        .copied()
                        .unwrap_or(false);
                    vals.push(("PowerState", v(if on { "on" } else { "off" }.to_owned())));
                    if !on {
                        let a = p.trim_start_matches("/org/bluez/").to_owned();
                        if let Some(ad) = self.adapters.get_mut(&a) {
                            ad.sessions.clear();
                        }
                        vals.push(("Discovering", v(false)));
                    }
                }
                if iface == ADAPTER && name == "Alias" && vals[0].1 .0.as_str() == Some("") {
                    vals[0].1 = v("bluez-loopback".to_owned());
                }
                self.set_props(p, &iface, vals, false);
                self.reply_ok(msg);
            }
            _ => self.reply_err(msg, "org.freedesktop.DBus.Error.UnknownMethod", member),
        }
    }
}

/// Which properties a client may Set.
fn writable(iface: &str, prop: &str) -> bool {
    match iface {
        ADAPTER => matches!(
            prop,
            "Alias"
                | "Powered"
                | "Discoverable"
                | "DiscoverableTimeout"
                | "Pairable"
                | "PairableTimeout"
        ),
        DEVICE => matches!(prop, "Alias" | "Trusted" | "Blocked" | "WakeAllowed"),
        _ => false,
    }
}
