//! Free helpers: object paths, deferred replies, error mapping, the option dict of app calls,
//! GATT flag checks and the natural ordering of application object paths.

use std::future::Future;

use dbus::arg::{PropMap, RefArg};
use dbus::strings::ErrorName;
use dbus::{Message, MethodErr, Path};

use crate::values::{v, Val};

pub(super) fn path(s: &str) -> Path<'static> {
    Path::new(s.to_owned()).unwrap_or_else(|_| Path::from("/"))
}

/// A copy of a method call to answer later (the copy must keep the serial the reply refers to).
pub(super) fn keep(msg: &Message) -> Message {
    let mut c = msg.duplicate().unwrap_or_else(|_| msg.method_return());
    if let Some(s) = msg.get_serial() {
        c.set_serial(s);
    }
    c
}

/// The unique name of a message's sender (empty if it has none).
pub(super) fn sender_of(msg: &Message) -> String {
    msg.sender().map(|s| s.to_string()).unwrap_or_default()
}

/// Runs an application call whose answer nobody waits for, logging a failure as `what`.
pub(super) fn detach(
    fut: impl Future<Output = Result<(), dbus::Error>> + Send + 'static,
    what: &'static str,
) {
    tokio::spawn(async move {
        if let Err(e) = fut.await {
            tracing::debug!("{what}: {e}");
        }
    });
}

pub(super) fn err_msg(call: &Message, name: &str, text: &str) -> Message {
    let name = ErrorName::new(name.to_owned())
        .unwrap_or_else(|_| ErrorName::from("org.bluez.Error.Failed"));
    MethodErr::from((name, text.to_owned())).to_message(call)
}

/// An application's error, as the central gets it: `org.bluez.Error.*` unchanged, anything else
/// (timeouts, a vanished app) as `org.bluez.Error.Failed`.
pub(super) fn pass_error(call: &Message, e: &dbus::Error) -> Message {
    let name = e.name().unwrap_or("org.bluez.Error.Failed");
    let text = e.message().unwrap_or("");
    if name.starts_with("org.bluez.Error.") {
        err_msg(call, name, text)
    } else {
        err_msg(call, "org.bluez.Error.Failed", &format!("{name}: {text}"))
    }
}

/// bluetoothd's option dict for app calls (gatt-database.c `append_options`).
pub(super) fn app_opts(device: &str, mtu: u16, offset: u16, typ: Option<&str>) -> PropMap {
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

pub(super) fn same(a: &Val, b: &Val) -> bool {
    a.0.signature() == b.0.signature() && format!("{:?}", a.0) == format!("{:?}", b.0)
}

pub(super) fn has_any(flags: &[String], wanted: &[&str]) -> bool {
    flags.iter().any(|f| wanted.contains(&f.as_str()))
}

pub(super) const READ_FLAGS: &[&str] = &[
    "read",
    "encrypt-read",
    "encrypt-authenticated-read",
    "secure-read",
];
pub(super) const WRITE_FLAGS: &[&str] = &[
    "write",
    "encrypt-write",
    "encrypt-authenticated-write",
    "secure-write",
    "reliable-write",
    "authenticated-signed-writes",
];

/// Sort key that orders `service2` before `service10`.
pub(super) fn natural_key(p: &str) -> Vec<(String, u64)> {
    p.split('/')
        .map(|seg| {
            let digits = seg.len() - seg.trim_end_matches(|c: char| c.is_ascii_digit()).len();
            let (head, num) = seg.split_at(seg.len() - digits);
            (head.to_owned(), num.parse().unwrap_or(0))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::get_u16;

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
