//! `LEAdvertisingManager1`: registering (properties fetched, size-checked, instance limit)
//! and unregistering advertisements.

use dbus::arg::PropMap;
use dbus::Message;

use super::state::St;
use super::{Ev, ADAPTER, ADV, MAX_ADVS, PROPS};
use crate::adv;

impl St {
    pub(super) fn adv_manager_call(&mut self, msg: &Message, p: &str, member: &str) {
        let Some((a, sender, advp)) = self.manager_args(msg, p) else {
            return;
        };
        let existing = self.find_periph(&a, &sender, |x| x.advs.iter().any(|(ap, _)| *ap == advp));
        match member {
            "RegisterAdvertisement" => {
                if existing.is_some() {
                    return self.reply_err(msg, "org.bluez.Error.AlreadyExists", "Already Exists");
                }
                let proxy = self.app_proxy(sender.clone(), advp.clone());
                let fut = proxy.method_call::<(PropMap,), _>(PROPS, "GetAll", (ADV,));
                let fut = async move { fut.await.map(|(o,)| o) };
                self.ask_app(msg, fut, |call, res| Ev::AdvProps {
                    call,
                    owner: sender,
                    adapter: a,
                    adv: advp,
                    res,
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

    pub(super) fn on_adv_props(
        &mut self,
        call: &Message,
        owner: String,
        adapter: String,
        advp: String,
        res: Result<PropMap, dbus::Error>,
    ) {
        let props = match res {
            Ok(p) => p,
            Err(e) => return self.reply_app_failed(call, "reading the advertisement", &e),
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
        if self.active_advs(&adapter) >= usize::from(MAX_ADVS) {
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
        for a in self.scanning_adapters() {
            self.ensure_remote_devices(&a);
        }
    }
}
