//! Forwarding a central's GATT calls on mirrors to the application: reads (long reads as
//! offset reads), writes (requests and commands) and notification sessions.

use std::sync::Arc;

use dbus::arg::PropMap;
use dbus::channel::Sender;
use dbus::nonblock::SyncConnection;
use dbus::Message;

use super::call::AppProxy;
use super::helpers::{app_opts, detach, has_any, keep, pass_error, READ_FLAGS, WRITE_FLAGS};
use super::state::{Kind, St};
use super::{Ev, CHAR, DESC, MAX_ATTR};
use crate::values::{get_str, get_u16, v};

/// Reads the (long) value of an app attribute the way a central's ATT Read + Read Blob would.
#[allow(clippy::too_many_arguments)]
pub(super) async fn forward_read(
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
    let proxy = AppProxy::new(conn.clone(), dest, app_path);
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
    pub(super) fn attr_call(&mut self, msg: &Message, mp: &str, iface: &str, member: &str) {
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
                    let on = self.is_true(&char_mirror, CHAR, "Notifying");
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
                let proxy = self.app_proxy(owner, app_path);
                let fut = proxy.method_call::<(), _>(
                    app_iface,
                    "WriteValue",
                    (value, app_opts(&device, mtu, offset, typ.as_deref())),
                );
                if command {
                    self.reply_ok(msg);
                    detach(fut, "write command failed in the app");
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
                if self.is_true(mp, CHAR, "Notifying") {
                    return self.reply_ok(msg);
                }
                let key = (owner.clone(), app_path.clone());
                if self.notify_refs.get(&key).copied().unwrap_or(0) > 0 {
                    *self.notify_refs.entry(key).or_default() += 1;
                    self.set_props(mp, CHAR, vec![("Notifying", v(true))], false);
                    return self.reply_ok(msg);
                }
                let proxy = self.app_proxy(owner, app_path);
                let fut = proxy.method_call::<(), _>(CHAR, "StartNotify", ());
                let mirror = mp.to_owned();
                self.ask_app(msg, fut, |call, res| Ev::NotifyDone {
                    call,
                    mirror,
                    key,
                    res,
                });
            }
            "StopNotify" => {
                if self.is_true(mp, CHAR, "Notifying") {
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
