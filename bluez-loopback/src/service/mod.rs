//! The loopback service: one actor task owns all state; forwarding calls to applications run
//! in spawned tasks that reply to the central directly or post a result back to the actor.
//!
//! The actor state (`state::St`) is split by concern: the object tree and the standard
//! interfaces (`objects`), bus events (`events`), adapters and discovery (`adapter`),
//! `LEAdvertisingManager1` (`advertising`), `GattManager1` (`gatt`), connections and their
//! mirrors (`connect`) and forwarding central calls to applications (`forward`).

mod adapter;
mod advertising;
mod call;
mod connect;
mod events;
mod forward;
mod gatt;
mod helpers;
mod objects;
mod state;

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use dbus::arg::PropMap;
use dbus::channel::{Channel, MatchingReceiver};
use dbus::message::MatchRule;
use dbus::nonblock::stdintf::org_freedesktop_dbus::RequestNameReply;
use dbus::nonblock::SyncConnection;
use dbus::{Message, Path};
use tokio::sync::mpsc;

use crate::{Error, Options};
use state::St;

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
