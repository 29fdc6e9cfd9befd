//! The loopback service: one actor task owns all state; forwarding calls to applications run
//! in spawned tasks that reply to the central directly or post a result back to the actor.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use dbus::arg::{PropMap, RefArg, Variant};
use dbus::channel::{Channel, MatchingReceiver, Sender};
use dbus::message::MatchRule;
use dbus::nonblock::stdintf::org_freedesktop_dbus::RequestNameReply;
use dbus::nonblock::{Proxy, SyncConnection};
use dbus::strings::ErrorName;
use dbus::{Message, MethodErr, Path};
use tokio::sync::mpsc;

use crate::adv::{self, AdvInfo};
use crate::introspect;
use crate::values::{
    bytes_of, clone_props, get_bool, get_str, get_u16, normalize_uuid, strings_of, v, Addr, Val,
};
use crate::{Error, Options};

const BLUEZ: &str = "org.bluez";
const ADAPTER: &str = "org.bluez.Adapter1";
const DEVICE: &str = "org.bluez.Device1";
const GATT_MANAGER: &str = "org.bluez.GattManager1";
const ADV_MANAGER: &str = "org.bluez.LEAdvertisingManager1";
const ADV: &str = "org.bluez.LEAdvertisement1";
const AGENT_MANAGER: &str = "org.bluez.AgentManager1";
const SERVICE: &str = "org.bluez.GattService1";
const CHAR: &str = "org.bluez.GattCharacteristic1";
const DESC: &str = "org.bluez.GattDescriptor1";
const PROPS: &str = "org.freedesktop.DBus.Properties";
const OM: &str = "org.freedesktop.DBus.ObjectManager";
const INTROSPECT: &str = "org.freedesktop.DBus.Introspectable";
const CCC_UUID: &str = "00002902-0000-1000-8000-00805f9b34fb";
/// How long an application gets to answer a forwarded call.
const APP_TIMEOUT: Duration = Duration::from_secs(20);
/// The largest attribute value (ATT).
const MAX_ATTR: usize = 512;
/// Advertising instances per adapter.
const MAX_ADVS: u8 = 5;

type ManagedObjects = HashMap<Path<'static>, HashMap<String, PropMap>>;

enum Ev {
    Call(Message),
    Signal(Message),
    AppObjects {
        call: Message,
        owner: String,
        adapter: String,
        app: String,
        res: Result<ManagedObjects, dbus::Error>,
    },
    AdvProps {
        call: Message,
        owner: String,
        adapter: String,
        adv: String,
        res: Result<PropMap, dbus::Error>,
    },
    NotifyDone {
        call: Message,
        mirror: String,
        key: (String, String),
        res: Result<(), dbus::Error>,
    },
}

struct AdapterSt {
    index: u8,
    addr: Addr,
    /// Unique names of the clients discovering on this adapter.
    sessions: BTreeSet<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Service,
    Char,
    Desc,
    Ccc,
}

#[derive(Clone, Debug)]
struct Attr {
    kind: Kind,
    app_path: String,
    uuid: String,
    flags: Vec<String>,
    primary: bool,
    parent: Option<String>,
    /// Service: its handle; characteristic: the value handle; descriptor: its handle.
    handle: u16,
    /// Characteristic: declaration handle (names the mirror) and synthesized CCC handle.
    decl: u16,
    ccc: Option<u16>,
}

struct App {
    path: String,
    attrs: Vec<Attr>,
}

/// One peripheral: what one bus client registered on one adapter.
struct Periph {
    adapter: String,
    owner: String,
    addr: Addr,
    advs: Vec<(String, AdvInfo)>,
    apps: Vec<App>,
    next_handle: u16,
}

enum DevRole {
    /// A peripheral as seen by centrals on the device's adapter.
    Remote { periph: u64 },
    /// A connected central as seen by the peripheral's adapter.
    Peer { conns: BTreeSet<u64> },
}

struct Conn {
    periph: u64,
    initiator: String,
    device_path: String,
    peer_path: String,
    mirrors: Vec<String>,
}

struct Mirror {
    conn: u64,
    kind: Kind,
    owner: String,
    app_path: String,
    flags: Vec<String>,
    /// The characteristic mirror this belongs to (itself for a characteristic).
    char_mirror: String,
}

struct St {
    opts: Options,
    conn: Arc<SyncConnection>,
    me: String,
    tx: mpsc::UnboundedSender<Ev>,
    objects: BTreeMap<String, BTreeMap<String, PropMap>>,
    adapters: BTreeMap<String, AdapterSt>,
    periphs: BTreeMap<u64, Periph>,
    devices: BTreeMap<String, DevRole>,
    conns: BTreeMap<u64, Conn>,
    mirrors: BTreeMap<String, Mirror>,
    notify_refs: BTreeMap<(String, String), u32>,
    next_id: u64,
    rssi_flip: bool,
}

/// Connects to `address`, serves `org.bluez` until `shutdown` resolves or the connection is lost.
/// `ready` gets `Ok(())` once the name is owned.
pub(crate) async fn run(
    address: &str,
    opts: Options,
    ready: Option<std::sync::mpsc::Sender<Result<(), Error>>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let mut ch = Channel::open_private(address)?;
    ch.register()?;
    let (resource, conn) = dbus_tokio::connection::from_channel::<SyncConnection>(ch)?;
    let mut lost = tokio::spawn(resource);
    let me = conn.unique_name().to_string();

    let (tx, mut rx) = mpsc::unbounded_channel();
    let t = tx.clone();
    conn.start_receive(
        MatchRule::new_method_call(),
        Box::new(move |m, _| {
            let _ = t.send(Ev::Call(m));
            true
        }),
    );
    let t = tx.clone();
    let _props_match = conn
        .add_match(MatchRule::new_signal(PROPS, "PropertiesChanged"))
        .await?
        .msg_cb(move |m| {
            let _ = t.send(Ev::Signal(m));
            true
        });
    let t = tx.clone();
    let _owner_match = conn
        .add_match(
            MatchRule::new_signal("org.freedesktop.DBus", "NameOwnerChanged")
                .with_sender("org.freedesktop.DBus"),
        )
        .await?
        .msg_cb(move |m| {
            let _ = t.send(Ev::Signal(m));
            true
        });

    let mut st = St::new(opts, conn.clone(), me, tx);
    let reply = conn.request_name(BLUEZ, false, false, true).await?;
    if reply != RequestNameReply::PrimaryOwner {
        return Err(Error::NameTaken);
    }
    tracing::info!(address, adapters = ?st.opts.adapters, mtu = st.opts.mtu, "bluez-loopback owns org.bluez");
    if let Some(r) = ready {
        let _ = r.send(Ok(()));
    }

    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            r = &mut lost => {
                let why = match r { Ok(e) => e.to_string(), Err(e) => e.to_string() };
                return Err(Error::Stopped(format!("D-Bus connection lost: {why}")));
            }
            Some(ev) = rx.recv() => st.on_event(ev),
            _ = tick.tick() => st.on_tick(),
        }
    }
}

fn path(s: &str) -> Path<'static> {
    Path::new(s.to_owned()).unwrap_or_else(|_| Path::from("/"))
}

/// A copy of a method call to answer later (the copy must keep the serial the reply refers to).
fn keep(msg: &Message) -> Message {
    let mut c = msg.duplicate().unwrap_or_else(|_| msg.method_return());
    if let Some(s) = msg.get_serial() {
        c.set_serial(s);
    }
    c
}

fn err_msg(call: &Message, name: &str, text: &str) -> Message {
    let name = ErrorName::new(name.to_owned())
        .unwrap_or_else(|_| ErrorName::from("org.bluez.Error.Failed"));
    MethodErr::from((name, text.to_owned())).to_message(call)
}

/// An application's error, as the central gets it: `org.bluez.Error.*` unchanged, anything else
/// (timeouts, a vanished app) as `org.bluez.Error.Failed`.
fn pass_error(call: &Message, e: &dbus::Error) -> Message {
    let name = e.name().unwrap_or("org.bluez.Error.Failed");
    let text = e.message().unwrap_or("");
    if name.starts_with("org.bluez.Error.") {
        err_msg(call, name, text)
    } else {
        err_msg(call, "org.bluez.Error.Failed", &format!("{name}: {text}"))
    }
}

/// bluetoothd's option dict for app calls (gatt-database.c `append_options`).
fn app_opts(device: &str, mtu: u16, offset: u16, typ: Option<&str>) -> PropMap {
    let mut o = PropMap::new();
    o.insert("device".into(), v(path(device)));
    o.insert("link".into(), v("LE".to_owned()));
    o.insert("mtu".into(), v(mtu));
    if offset != 0 {
        o.insert("offset".into(), v(offset));
    }
    if let Some(t) = typ {
        o.insert("type".into(), v(t.to_owned()));
    }
    o
}

fn same(a: &Val, b: &Val) -> bool {
    a.0.signature() == b.0.signature() && format!("{:?}", a.0) == format!("{:?}", b.0)
}

fn has_any(flags: &[String], wanted: &[&str]) -> bool {
    flags.iter().any(|f| wanted.contains(&f.as_str()))
}

const READ_FLAGS: &[&str] = &[
    "read",
    "encrypt-read",
    "encrypt-authenticated-read",
    "secure-read",
];
const WRITE_FLAGS: &[&str] = &[
    "write",
    "encrypt-write",
    "encrypt-authenticated-write",
    "secure-write",
    "reliable-write",
    "authenticated-signed-writes",
];

/// Sort key that orders `service2` before `service10`.
fn natural_key(p: &str) -> Vec<(String, u64)> {
    p.split('/')
        .map(|seg| {
            let digits = seg.len() - seg.trim_end_matches(|c: char| c.is_ascii_digit()).len();
            let (head, num) = seg.split_at(seg.len() - digits);
            (head.to_owned(), num.parse().unwrap_or(0))
        })
        .collect()
}

/// Reads the (long) value of an app attribute the way a central's ATT Read + Read Blob would.
#[allow(clippy::too_many_arguments)]
async fn forward_read(
    conn: Arc<SyncConnection>,
    call: Message,
    dest: String,
    app_path: String,
    iface: &'static str,
    device: String,
    mtu: u16,
    start: u16,
) {
    let chunk = usize::from(mtu - 1);
    let proxy = Proxy::new(dest, app_path, APP_TIMEOUT, conn.clone());
    let mut acc = Vec::new();
    let mut offset = start;
    loop {
        let r: Result<(Vec<u8>,), dbus::Error> = proxy
            .method_call(iface, "ReadValue", (app_opts(&device, mtu, offset, None),))
            .await;
        match r {
            Err(e) => {
                let _ = conn.send(pass_error(&call, &e));
                return;
            }
            Ok((mut val,)) => {
                val.truncate(chunk);
                let n = val.len();
                acc.extend(val);
                if start != 0 || n < chunk || acc.len() >= MAX_ATTR {
                    break;
                }
                offset = offset.saturating_add(n as u16);
            }
        }
    }
    acc.truncate(MAX_ATTR);
    let _ = conn.send(call.method_return().append1(acc));
}

impl St {
    fn new(
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

    // ---------------------------------------------------------------- object plumbing

    fn send(&self, m: Message) {
        let _ = self.conn.send(m);
    }

    fn reply_err(&self, call: &Message, name: &str, text: &str) {
        self.send(err_msg(call, name, text));
    }

    fn reply_ok(&self, call: &Message) {
        self.send(call.method_return());
    }

    fn add_object(&mut self, p: &str, ifaces: BTreeMap<String, PropMap>) {
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

    fn remove_object(&mut self, p: &str) {
        if let Some(ifaces) = self.objects.remove(p) {
            let names: Vec<String> = ifaces.into_keys().collect();
            self.send(
                Message::signal(&path("/"), &OM.into(), &"InterfacesRemoved".into())
                    .append2(path(p), names),
            );
        }
    }

    /// Sets properties, emitting one PropertiesChanged with those that changed (all if `force`).
    fn set_props(&mut self, p: &str, iface: &str, vals: Vec<(&str, Val)>, force: bool) {
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

    fn prop(&self, p: &str, iface: &str, k: &str) -> Option<&Val> {
        self.objects.get(p)?.get(iface)?.get(k)
    }

    fn has_iface(&self, p: &str, iface: &str) -> bool {
        self.objects.get(p).is_some_and(|o| o.contains_key(iface))
    }

    fn alloc_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    // ---------------------------------------------------------------- events

    fn on_event(&mut self, ev: Ev) {
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

    fn on_tick(&mut self) {
        self.rssi_flip = !self.rssi_flip;
        let rssi: i16 = if self.rssi_flip { -45 } else { -46 };
        let scanning: Vec<String> = self
            .adapters
            .iter()
            .filter(|(_, a)| !a.sessions.is_empty())
            .map(|(n, _)| n.clone())
            .collect();
        for a in scanning {
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

    fn on_signal(&mut self, m: &Message) {
        let sender = m.sender().map(|s| s.to_string()).unwrap_or_default();
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
                            && self
                                .prop(mp, CHAR, "Notifying")
                                .and_then(|x| x.0.as_any().downcast_ref::<bool>().copied())
                                == Some(true)
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
    fn owner_gone(&mut self, name: &str) {
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

    // ---------------------------------------------------------------- method calls

    fn on_call(&mut self, msg: Message) {
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

    fn guess_iface(&self, p: &str, member: &str) -> String {
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

    fn introspect(&self, msg: &Message, p: &str) {
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

    fn properties(&mut self, msg: &Message, p: &str, member: &str) {
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

    // ---------------------------------------------------------------- Adapter1

    fn adapter_name(p: &str) -> String {
        p.trim_start_matches("/org/bluez/")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    fn adapter_call(&mut self, msg: &Message, p: &str, member: &str) {
        let a = Self::adapter_name(p);
        let sender = msg.sender().map(|s| s.to_string()).unwrap_or_default();
        match member {
            "StartDiscovery" => {
                let powered = self
                    .prop(p, ADAPTER, "Powered")
                    .and_then(|x| x.0.as_any().downcast_ref::<bool>().copied());
                if powered != Some(true) {
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
                let ids: Vec<u64> = self
                    .conns
                    .iter()
                    .filter(|(_, c)| c.device_path == dev || c.peer_path == dev)
                    .map(|(id, _)| *id)
                    .collect();
                for id in ids {
                    self.teardown(id);
                }
                if self.devices.remove(&dev).is_some() {
                    self.remove_object(&dev);
                }
                self.reply_ok(msg);
            }
            _ => self.reply_err(msg, "org.freedesktop.DBus.Error.UnknownMethod", member),
        }
    }

    fn stop_session(&mut self, adapter: &str, client: &str) {
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

    fn remote_device_props(&self, adapter: &str, p: &Periph) -> Vec<(&'static str, Val)> {
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
    fn ensure_remote_devices(&mut self, adapter: &str) {
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

    // ---------------------------------------------------------------- peripherals

    fn periph_for(&mut self, adapter: &str, owner: &str) -> u64 {
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
    fn drop_periph_if_idle(&mut self, id: u64) {
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

    fn update_active_instances(&mut self, adapter: &str) {
        let n = self
            .periphs
            .values()
            .filter(|p| p.adapter == adapter)
            .map(|p| p.advs.len())
            .sum::<usize>();
        self.set_props(
            &format!("/org/bluez/{adapter}"),
            ADV_MANAGER,
            vec![("ActiveInstances", v(n as u8))],
            false,
        );
    }

    fn gatt_manager_call(&mut self, msg: &Message, p: &str, member: &str) {
        let a = Self::adapter_name(p);
        let sender = msg.sender().map(|s| s.to_string()).unwrap_or_default();
        let Ok(app) = msg.read1::<Path>().map(|x| x.to_string()) else {
            return self.reply_err(msg, "org.bluez.Error.InvalidArguments", "expected o");
        };
        let existing = self
            .periphs
            .iter()
            .find(|(_, x)| {
                x.adapter == a && x.owner == sender && x.apps.iter().any(|ap| ap.path == app)
            })
            .map(|(id, _)| *id);
        match member {
            "RegisterApplication" => {
                if existing.is_some() {
                    return self.reply_err(msg, "org.bluez.Error.AlreadyExists", "Already Exists");
                }
                let proxy = Proxy::new(sender.clone(), app.clone(), APP_TIMEOUT, self.conn.clone());
                let fut =
                    proxy.method_call::<(ManagedObjects,), _, _, _>(OM, "GetManagedObjects", ());
                let tx = self.tx.clone();
                let call = keep(msg);
                tokio::spawn(async move {
                    let res = fut.await.map(|(o,)| o);
                    let _ = tx.send(Ev::AppObjects {
                        call,
                        owner: sender,
                        adapter: a,
                        app,
                        res,
                    });
                });
            }
            "UnregisterApplication" => {
                let Some(id) = existing else {
                    return self.reply_err(msg, "org.bluez.Error.DoesNotExist", "Does Not Exist");
                };
                if let Some(x) = self.periphs.get_mut(&id) {
                    x.apps.retain(|ap| ap.path != app);
                }
                // Mirrors of that app go away on live connections.
                let prefix = format!("{app}/");
                let gone: Vec<String> = self
                    .mirrors
                    .iter()
                    .filter(|(_, m)| {
                        m.owner == sender && (m.app_path == app || m.app_path.starts_with(&prefix))
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                for mp in gone.iter().rev() {
                    self.drop_mirror(mp);
                }
                self.drop_periph_if_idle(id);
                self.reply_ok(msg);
            }
            _ => self.reply_err(msg, "org.freedesktop.DBus.Error.UnknownMethod", member),
        }
    }

    fn on_app_objects(
        &mut self,
        call: &Message,
        owner: String,
        adapter: String,
        app: String,
        res: Result<ManagedObjects, dbus::Error>,
    ) {
        let objs = match res {
            Ok(o) => o,
            Err(e) => {
                return self.reply_err(
                    call,
                    "org.bluez.Error.Failed",
                    &format!(
                        "GetManagedObjects on the application failed: {}",
                        e.message().unwrap_or("")
                    ),
                )
            }
        };
        let prefix = format!("{app}/");
        let mut paths: Vec<&Path<'static>> = objs
            .keys()
            .filter(|k| k.to_string() == app || k.starts_with(&prefix))
            .collect();
        paths.sort_by_key(|k| natural_key(k));
        let mut services = Vec::new();
        let mut chars = Vec::new();
        let mut descs = Vec::new();
        for k in paths {
            let ifaces = &objs[k];
            let mk = |kind, props: &PropMap, parent: Option<String>| Attr {
                kind,
                app_path: k.to_string(),
                uuid: normalize_uuid(&get_str(props, "UUID").unwrap_or_default()),
                flags: props
                    .get("Flags")
                    .map(|x| strings_of(&*x.0))
                    .unwrap_or_default(),
                primary: get_bool(props, "Primary").unwrap_or(true),
                parent,
                handle: get_u16(props, "Handle").unwrap_or(0),
                decl: 0,
                ccc: None,
            };
            if let Some(s) = ifaces.get(SERVICE) {
                services.push(mk(Kind::Service, s, None));
            }
            if let Some(c) = ifaces.get(CHAR) {
                let parent = c
                    .get("Service")
                    .and_then(|x| x.0.as_str().map(str::to_owned));
                chars.push(mk(Kind::Char, c, parent));
            }
            if let Some(d) = ifaces.get(DESC) {
                let parent = d
                    .get("Characteristic")
                    .and_then(|x| x.0.as_str().map(str::to_owned));
                let a = mk(Kind::Desc, d, parent);
                if a.uuid != CCC_UUID {
                    // bluetoothd synthesizes the CCC itself (pitfall 9).
                    descs.push(a);
                }
            }
        }
        if services.is_empty() {
            return self.reply_err(
                call,
                "org.bluez.Error.Failed",
                "No valid service object found",
            );
        }
        if !self.adapters.contains_key(&adapter) {
            return self.reply_err(call, "org.bluez.Error.Failed", "adapter vanished");
        }
        let id = self.periph_for(&adapter, &owner);
        let periph = self.periphs.get_mut(&id).expect("just made");
        let mut h = periph.next_handle;
        let mut attrs = Vec::new();
        let mut had_handle = Vec::new();
        for mut s in services {
            had_handle.push((s.app_path.clone(), SERVICE, s.handle));
            s.handle = h;
            h += 1;
            let sp = s.app_path.clone();
            attrs.push(s);
            for mut c in chars
                .iter()
                .filter(|c| c.parent.as_deref() == Some(&sp))
                .cloned()
            {
                had_handle.push((c.app_path.clone(), CHAR, c.handle));
                c.decl = h;
                c.handle = h + 1;
                h += 2;
                let cp = c.app_path.clone();
                let notifies = has_any(&c.flags, &["notify", "indicate"]);
                let my_descs: Vec<Attr> = descs
                    .iter()
                    .filter(|d| d.parent.as_deref() == Some(&cp))
                    .cloned()
                    .collect();
                let ci = attrs.len();
                attrs.push(c);
                for mut d in my_descs {
                    had_handle.push((d.app_path.clone(), DESC, d.handle));
                    d.handle = h;
                    h += 1;
                    attrs.push(d);
                }
                if notifies {
                    attrs[ci].ccc = Some(h);
                    h += 1;
                }
            }
        }
        periph.next_handle = h;
        // Tell the app its handles (gatt-database.c write_handle), for attributes that ask.
        for ((ap, iface, old), a) in had_handle
            .iter()
            .zip(attrs.iter().filter(|a| a.kind != Kind::Ccc))
        {
            debug_assert_eq!(ap, &a.app_path);
            let app_has_handle = objs
                .get(&path(ap))
                .and_then(|o| o.get(*iface))
                .is_some_and(|p| p.contains_key("Handle"));
            if app_has_handle && *old == 0 {
                let proxy = Proxy::new(owner.clone(), ap.clone(), APP_TIMEOUT, self.conn.clone());
                let fut = proxy.method_call::<(), _, _, _>(
                    PROPS,
                    "Set",
                    (*iface, "Handle", Variant(a.handle)),
                );
                tokio::spawn(async move {
                    if let Err(e) = fut.await {
                        tracing::debug!("setting Handle failed: {e}");
                    }
                });
            }
        }
        tracing::debug!(%owner, %app, %adapter, attrs = attrs.len(), "application registered");
        periph.apps.push(App { path: app, attrs });
        self.reply_ok(call);
    }

    fn adv_manager_call(&mut self, msg: &Message, p: &str, member: &str) {
        let a = Self::adapter_name(p);
        let sender = msg.sender().map(|s| s.to_string()).unwrap_or_default();
        let Ok(advp) = msg.read1::<Path>().map(|x| x.to_string()) else {
            return self.reply_err(msg, "org.bluez.Error.InvalidArguments", "expected o");
        };
        let existing = self
            .periphs
            .iter()
            .find(|(_, x)| {
                x.adapter == a && x.owner == sender && x.advs.iter().any(|(ap, _)| *ap == advp)
            })
            .map(|(id, _)| *id);
        match member {
            "RegisterAdvertisement" => {
                if existing.is_some() {
                    return self.reply_err(msg, "org.bluez.Error.AlreadyExists", "Already Exists");
                }
                let proxy =
                    Proxy::new(sender.clone(), advp.clone(), APP_TIMEOUT, self.conn.clone());
                let fut = proxy.method_call::<(PropMap,), _, _, _>(PROPS, "GetAll", (ADV,));
                let tx = self.tx.clone();
                let call = keep(msg);
                tokio::spawn(async move {
                    let res = fut.await.map(|(o,)| o);
                    let _ = tx.send(Ev::AdvProps {
                        call,
                        owner: sender,
                        adapter: a,
                        adv: advp,
                        res,
                    });
                });
            }
            "UnregisterAdvertisement" => {
                let Some(id) = existing else {
                    return self.reply_err(msg, "org.bluez.Error.DoesNotExist", "Does Not Exist");
                };
                if let Some(x) = self.periphs.get_mut(&id) {
                    x.advs.retain(|(ap, _)| *ap != advp);
                }
                self.update_active_instances(&a);
                self.drop_periph_if_idle(id);
                self.reply_ok(msg);
            }
            _ => self.reply_err(msg, "org.freedesktop.DBus.Error.UnknownMethod", member),
        }
    }

    fn on_adv_props(
        &mut self,
        call: &Message,
        owner: String,
        adapter: String,
        advp: String,
        res: Result<PropMap, dbus::Error>,
    ) {
        let props = match res {
            Ok(p) => p,
            Err(e) => {
                return self.reply_err(
                    call,
                    "org.bluez.Error.Failed",
                    &format!(
                        "reading the advertisement failed: {}",
                        e.message().unwrap_or("")
                    ),
                )
            }
        };
        let ap = format!("/org/bluez/{adapter}");
        let alias = self
            .prop(&ap, ADAPTER, "Alias")
            .and_then(|x| x.0.as_str().map(str::to_owned))
            .unwrap_or_default();
        let info = match adv::parse(&props, &alias) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(%owner, %advp, "advertisement rejected: {e}");
                return self.reply_err(call, "org.bluez.Error.InvalidLength", &e);
            }
        };
        let active: usize = self
            .periphs
            .values()
            .filter(|p| p.adapter == adapter)
            .map(|p| p.advs.len())
            .sum();
        if active >= usize::from(MAX_ADVS) {
            return self.reply_err(
                call,
                "org.bluez.Error.NotPermitted",
                "Maximum advertisements reached",
            );
        }
        tracing::debug!(%owner, %advp, ?info, "advertisement registered");
        let id = self.periph_for(&adapter, &owner);
        if let Some(p) = self.periphs.get_mut(&id) {
            p.advs.push((advp, info));
        }
        self.update_active_instances(&adapter);
        self.reply_ok(call);
        let scanning: Vec<String> = self
            .adapters
            .iter()
            .filter(|(_, a)| !a.sessions.is_empty())
            .map(|(n, _)| n.clone())
            .collect();
        for a in scanning {
            self.ensure_remote_devices(&a);
        }
    }

    // ---------------------------------------------------------------- Device1 and connections

    fn device_call(&mut self, msg: &Message, p: &str, member: &str) {
        match member {
            "Connect" => self.connect(msg, p),
            "Disconnect" => {
                let ids: Vec<u64> = self
                    .conns
                    .iter()
                    .filter(|(_, c)| c.device_path == p || c.peer_path == p)
                    .map(|(id, _)| *id)
                    .collect();
                for id in ids {
                    self.teardown(id);
                }
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

    fn connect(&mut self, msg: &Message, dp: &str) {
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
        let sender = msg.sender().map(|s| s.to_string()).unwrap_or_default();
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
                    let mut props = PropMap::new();
                    props.insert("UUID".into(), v(a.uuid.clone()));
                    props.insert("Characteristic".into(), v(path(cp)));
                    props.insert("Value".into(), v(Vec::<u8>::new()));
                    props.insert("Handle".into(), v(a.handle));
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
            let mut ifaces = BTreeMap::new();
            ifaces.insert(iface.to_owned(), props);
            self.add_object(&mp, ifaces);
            self.mirrors.insert(
                mp.clone(),
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
                let mut props = PropMap::new();
                props.insert("UUID".into(), v(CCC_UUID.to_owned()));
                props.insert("Characteristic".into(), v(path(&mp)));
                props.insert("Value".into(), v(Vec::<u8>::new()));
                props.insert("Handle".into(), v(ccc));
                let mut ifaces = BTreeMap::new();
                ifaces.insert(DESC.to_owned(), props);
                self.add_object(&dpth, ifaces);
                self.mirrors.insert(
                    dpth.clone(),
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

    fn drop_mirror(&mut self, mp: &str) {
        let Some(m) = self.mirrors.remove(mp) else {
            return;
        };
        if m.kind == Kind::Char {
            let notifying = self
                .prop(mp, CHAR, "Notifying")
                .and_then(|x| x.0.as_any().downcast_ref::<bool>().copied())
                == Some(true);
            if notifying {
                self.release_notify(&m.owner, &m.app_path);
            }
        }
        if let Some(c) = self.conns.get_mut(&m.conn) {
            c.mirrors.retain(|x| x != mp);
        }
        self.remove_object(mp);
    }

    fn release_notify(&mut self, owner: &str, app_path: &str) {
        let key = (owner.to_owned(), app_path.to_owned());
        let Some(n) = self.notify_refs.get_mut(&key) else {
            return;
        };
        *n -= 1;
        if *n == 0 {
            self.notify_refs.remove(&key);
            let proxy = Proxy::new(
                owner.to_owned(),
                app_path.to_owned(),
                APP_TIMEOUT,
                self.conn.clone(),
            );
            let fut = proxy.method_call::<(), _, _, _>(CHAR, "StopNotify", ());
            tokio::spawn(async move {
                if let Err(e) = fut.await {
                    tracing::debug!("app StopNotify failed: {e}");
                }
            });
        }
    }

    fn teardown(&mut self, id: u64) {
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

    // ---------------------------------------------------------------- GATT forwarding

    fn attr_call(&mut self, msg: &Message, mp: &str, iface: &str, member: &str) {
        let Some(m) = self.mirrors.get(mp) else {
            return;
        };
        let Some(c) = self.conns.get(&m.conn) else {
            return self.reply_err(msg, "org.bluez.Error.NotConnected", "Not Connected");
        };
        let mtu = self.opts.mtu;
        let (kind, owner, app_path, flags, device) = (
            m.kind,
            m.owner.clone(),
            m.app_path.clone(),
            m.flags.clone(),
            c.peer_path.clone(),
        );
        let char_mirror = m.char_mirror.clone();
        let is_char = kind == Kind::Char;
        if (iface == CHAR) != is_char {
            return self.reply_err(msg, "org.freedesktop.DBus.Error.UnknownMethod", member);
        }
        let app_iface = if is_char { CHAR } else { DESC };
        match member {
            "ReadValue" => {
                let Ok(opts) = msg.read1::<PropMap>() else {
                    return self.reply_err(
                        msg,
                        "org.bluez.Error.InvalidArguments",
                        "expected a{sv}",
                    );
                };
                let offset = get_u16(&opts, "offset").unwrap_or(0);
                if kind == Kind::Ccc {
                    let on = self
                        .prop(&char_mirror, CHAR, "Notifying")
                        .and_then(|x| x.0.as_any().downcast_ref::<bool>().copied())
                        == Some(true);
                    let val: Vec<u8> = vec![u8::from(on), 0]
                        .into_iter()
                        .skip(usize::from(offset))
                        .collect();
                    return self.send(msg.method_return().append1(val));
                }
                let allowed = if is_char {
                    has_any(&flags, READ_FLAGS)
                } else {
                    flags.is_empty() || has_any(&flags, READ_FLAGS)
                };
                if !allowed {
                    return self.reply_err(
                        msg,
                        "org.bluez.Error.NotPermitted",
                        "Read not permitted",
                    );
                }
                let call = keep(msg);
                tokio::spawn(forward_read(
                    self.conn.clone(),
                    call,
                    owner,
                    app_path,
                    app_iface,
                    device,
                    mtu,
                    offset,
                ));
            }
            "WriteValue" => {
                let Ok((value, opts)) = msg.read2::<Vec<u8>, PropMap>() else {
                    return self.reply_err(
                        msg,
                        "org.bluez.Error.InvalidArguments",
                        "expected (ay, a{sv})",
                    );
                };
                if kind == Kind::Ccc {
                    return self.reply_ok(msg);
                }
                let offset = get_u16(&opts, "offset").unwrap_or(0);
                let typ = if is_char {
                    let t = get_str(&opts, "type").unwrap_or_else(|| {
                        if has_any(&flags, WRITE_FLAGS) {
                            "request"
                        } else {
                            "command"
                        }
                        .to_owned()
                    });
                    let ok = match t.as_str() {
                        "command" => has_any(&flags, &["write-without-response"]),
                        "request" | "reliable" => has_any(&flags, WRITE_FLAGS),
                        _ => {
                            return self.reply_err(
                                msg,
                                "org.bluez.Error.InvalidArguments",
                                "bad write type",
                            )
                        }
                    };
                    if !ok {
                        // bluetoothd: NotSupported for a command without the flag.
                        let name = if t == "command" {
                            "org.bluez.Error.NotSupported"
                        } else {
                            "org.bluez.Error.NotPermitted"
                        };
                        return self.reply_err(msg, name, "Write not permitted");
                    }
                    Some(t)
                } else {
                    if !flags.is_empty() && !has_any(&flags, WRITE_FLAGS) {
                        return self.reply_err(
                            msg,
                            "org.bluez.Error.NotPermitted",
                            "Write not permitted",
                        );
                    }
                    None
                };
                if value.len() + usize::from(offset) > MAX_ATTR {
                    return self.reply_err(
                        msg,
                        "org.bluez.Error.InvalidValueLength",
                        "Invalid Value Length",
                    );
                }
                let command = typ.as_deref() == Some("command");
                if command && value.len() > usize::from(mtu - 3) {
                    return self.reply_err(
                        msg,
                        "org.bluez.Error.Failed",
                        "Failed to initiate write (write without response longer than MTU-3)",
                    );
                }
                let proxy = Proxy::new(owner, app_path, APP_TIMEOUT, self.conn.clone());
                let fut = proxy.method_call::<(), _, _, _>(
                    app_iface,
                    "WriteValue",
                    (value, app_opts(&device, mtu, offset, typ.as_deref())),
                );
                if command {
                    self.reply_ok(msg);
                    tokio::spawn(async move {
                        if let Err(e) = fut.await {
                            tracing::debug!("write command failed in the app: {e}");
                        }
                    });
                } else {
                    let call = keep(msg);
                    let conn = self.conn.clone();
                    tokio::spawn(async move {
                        let r = match fut.await {
                            Ok(()) => call.method_return(),
                            Err(e) => pass_error(&call, &e),
                        };
                        let _ = conn.send(r);
                    });
                }
            }
            "StartNotify" => {
                if !has_any(&flags, &["notify", "indicate"]) {
                    return self.reply_err(
                        msg,
                        "org.bluez.Error.NotSupported",
                        "Operation is not supported",
                    );
                }
                let on = self
                    .prop(mp, CHAR, "Notifying")
                    .and_then(|x| x.0.as_any().downcast_ref::<bool>().copied())
                    == Some(true);
                if on {
                    return self.reply_ok(msg);
                }
                let key = (owner.clone(), app_path.clone());
                if self.notify_refs.get(&key).copied().unwrap_or(0) > 0 {
                    *self.notify_refs.entry(key).or_default() += 1;
                    self.set_props(mp, CHAR, vec![("Notifying", v(true))], false);
                    return self.reply_ok(msg);
                }
                let proxy = Proxy::new(owner, app_path, APP_TIMEOUT, self.conn.clone());
                let fut = proxy.method_call::<(), _, _, _>(CHAR, "StartNotify", ());
                let tx = self.tx.clone();
                let call = keep(msg);
                let mirror = mp.to_owned();
                tokio::spawn(async move {
                    let res = fut.await;
                    let _ = tx.send(Ev::NotifyDone {
                        call,
                        mirror,
                        key,
                        res,
                    });
                });
            }
            "StopNotify" => {
                let on = self
                    .prop(mp, CHAR, "Notifying")
                    .and_then(|x| x.0.as_any().downcast_ref::<bool>().copied())
                    == Some(true);
                if on {
                    self.set_props(mp, CHAR, vec![("Notifying", v(false))], false);
                    self.release_notify(&owner, &app_path);
                }
                self.reply_ok(msg);
            }
            "Confirm" => self.reply_ok(msg),
            "AcquireWrite" | "AcquireNotify" => self.reply_err(
                msg,
                "org.bluez.Error.NotSupported",
                "Acquire* is not implemented by bluez-loopback; use WriteValue/StartNotify",
            ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec![
            "/a/service10",
            "/a/service2",
            "/a/service2/char0",
            "/a/service1",
        ];
        v.sort_by_key(|k| natural_key(k));
        assert_eq!(
            v,
            [
                "/a/service1",
                "/a/service2",
                "/a/service2/char0",
                "/a/service10"
            ]
        );
    }

    #[test]
    fn options_dict() {
        let o = app_opts("/org/bluez/hci0/dev_0A_B1_E0_00_C0_02", 23, 0, None);
        assert!(o.contains_key("device") && o.contains_key("mtu") && o.contains_key("link"));
        assert!(!o.contains_key("offset"));
        let o = app_opts(
            "/org/bluez/hci0/dev_0A_B1_E0_00_C0_02",
            23,
            22,
            Some("request"),
        );
        assert_eq!(get_u16(&o, "offset"), Some(22));
    }
}
