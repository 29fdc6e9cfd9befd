//! `GattManager1`: registering an application (its objects are fetched with
//! GetManagedObjects and given ATT handles, CCCs synthesized) and unregistering it.

use super::call::AppProxy;
use dbus::arg::{PropMap, Variant};
use dbus::{Message, Path};

use super::helpers::{detach, has_any, natural_key, path};
use super::state::{App, Attr, Kind, St};
use super::{Ev, ManagedObjects, CCC_UUID, CHAR, DESC, OM, PROPS, SERVICE};
use crate::values::{get_bool, get_str, get_u16, normalize_uuid, strings_of};

impl St {
    pub(super) fn gatt_manager_call(&mut self, msg: &Message, p: &str, member: &str) {
        let Some((a, sender, app)) = self.manager_args(msg, p) else {
            return;
        };
        let existing = self.find_periph(&a, &sender, |x| x.apps.iter().any(|ap| ap.path == app));
        match member {
            "RegisterApplication" => {
                if existing.is_some() {
                    return self.reply_err(msg, "org.bluez.Error.AlreadyExists", "Already Exists");
                }
                let proxy = self.app_proxy(sender.clone(), app.clone());
                let fut = proxy.method_call::<(ManagedObjects,), _>(OM, "GetManagedObjects", ());
                let fut = async move { fut.await.map(|(o,)| o) };
                self.ask_app(msg, fut, |call, res| Ev::AppObjects {
                    call,
                    owner: sender,
                    adapter: a,
                    app,
                    res,
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

    pub(super) fn on_app_objects(
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
                return self.reply_app_failed(call, "GetManagedObjects on the application", &e)
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
                let proxy = AppProxy::new(self.conn.clone(), owner.clone(), ap.clone());
                let fut =
                    proxy.method_call::<(), _>(PROPS, "Set", (*iface, "Handle", Variant(a.handle)));
                detach(fut, "setting Handle failed");
            }
        }
        tracing::debug!(%owner, %app, %adapter, attrs = attrs.len(), "application registered");
        periph.apps.push(App { path: app, attrs });
        self.reply_ok(call);
    }
}
