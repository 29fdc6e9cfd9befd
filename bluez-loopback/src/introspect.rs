//! `org.freedesktop.DBus.Introspectable` XML for the loopback's objects.

use std::collections::BTreeMap;
use std::fmt::Write;

use dbus::arg::PropMap;

/// (name, [(arg name, type, direction)]) per method; signals as (name, [(arg, type)]).
type Method = (
    &'static str,
    &'static [(&'static str, &'static str, &'static str)],
);
type Signal = (&'static str, &'static [(&'static str, &'static str)]);

fn members(iface: &str) -> (&'static [Method], &'static [Signal]) {
    match iface {
        "org.freedesktop.DBus.Introspectable" => (&[("Introspect", &[("xml", "s", "out")])], &[]),
        "org.freedesktop.DBus.Properties" => (
            &[
                (
                    "Get",
                    &[
                        ("interface", "s", "in"),
                        ("name", "s", "in"),
                        ("value", "v", "out"),
                    ],
                ),
                (
                    "GetAll",
                    &[("interface", "s", "in"), ("props", "a{sv}", "out")],
                ),
                (
                    "Set",
                    &[
                        ("interface", "s", "in"),
                        ("name", "s", "in"),
                        ("value", "v", "in"),
                    ],
                ),
            ],
            &[(
                "PropertiesChanged",
                &[
                    ("interface", "s"),
                    ("changed", "a{sv}"),
                    ("invalidated", "as"),
                ],
            )],
        ),
        "org.freedesktop.DBus.ObjectManager" => (
            &[("GetManagedObjects", &[("objects", "a{oa{sa{sv}}}", "out")])],
            &[
                (
                    "InterfacesAdded",
                    &[("object", "o"), ("interfaces", "a{sa{sv}}")],
                ),
                (
                    "InterfacesRemoved",
                    &[("object", "o"), ("interfaces", "as")],
                ),
            ],
        ),
        "org.bluez.AgentManager1" => (
            &[
                (
                    "RegisterAgent",
                    &[("agent", "o", "in"), ("capability", "s", "in")],
                ),
                ("UnregisterAgent", &[("agent", "o", "in")]),
                ("RequestDefaultAgent", &[("agent", "o", "in")]),
            ],
            &[],
        ),
        "org.bluez.Adapter1" => (
            &[
                ("StartDiscovery", &[]),
                ("StopDiscovery", &[]),
                ("SetDiscoveryFilter", &[("filter", "a{sv}", "in")]),
                ("GetDiscoveryFilters", &[("filters", "as", "out")]),
                ("RemoveDevice", &[("device", "o", "in")]),
            ],
            &[],
        ),
        "org.bluez.GattManager1" => (
            &[
                (
                    "RegisterApplication",
                    &[("application", "o", "in"), ("options", "a{sv}", "in")],
                ),
                ("UnregisterApplication", &[("application", "o", "in")]),
            ],
            &[],
        ),
        "org.bluez.LEAdvertisingManager1" => (
            &[
                (
                    "RegisterAdvertisement",
                    &[("advertisement", "o", "in"), ("options", "a{sv}", "in")],
                ),
                ("UnregisterAdvertisement", &[("service", "o", "in")]),
            ],
            &[],
        ),
        "org.bluez.Device1" => (
            &[
                ("Connect", &[]),
                ("Disconnect", &[]),
                ("Pair", &[]),
                ("CancelPairing", &[]),
                ("ConnectProfile", &[("UUID", "s", "in")]),
                ("DisconnectProfile", &[("UUID", "s", "in")]),
            ],
            &[],
        ),
        "org.bluez.GattCharacteristic1" => (
            &[
                (
                    "ReadValue",
                    &[("options", "a{sv}", "in"), ("value", "ay", "out")],
                ),
                (
                    "WriteValue",
                    &[("value", "ay", "in"), ("options", "a{sv}", "in")],
                ),
                (
                    "AcquireWrite",
                    &[
                        ("options", "a{sv}", "in"),
                        ("fd", "h", "out"),
                        ("mtu", "q", "out"),
                    ],
                ),
                (
                    "AcquireNotify",
                    &[
                        ("options", "a{sv}", "in"),
                        ("fd", "h", "out"),
                        ("mtu", "q", "out"),
                    ],
                ),
                ("StartNotify", &[]),
                ("StopNotify", &[]),
                ("Confirm", &[]),
            ],
            &[],
        ),
        "org.bluez.GattDescriptor1" => (
            &[
                (
                    "ReadValue",
                    &[("options", "a{sv}", "in"), ("value", "ay", "out")],
                ),
                (
                    "WriteValue",
                    &[("value", "ay", "in"), ("options", "a{sv}", "in")],
                ),
            ],
            &[],
        ),
        _ => (&[], &[]),
    }
}

/// Introspection XML for `path`, given its interfaces (if it is an object) and its children.
pub(crate) fn xml(
    ifaces: Option<&BTreeMap<String, PropMap>>,
    writable: impl Fn(&str, &str) -> bool,
    children: &[String],
    object_manager: bool,
) -> String {
    let mut s = String::from(
        "<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n \
         \"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n<node>\n",
    );
    let mut names: Vec<&str> = vec![
        "org.freedesktop.DBus.Introspectable",
        "org.freedesktop.DBus.Properties",
    ];
    if object_manager {
        names.push("org.freedesktop.DBus.ObjectManager");
    }
    let empty = BTreeMap::new();
    let ifaces = ifaces.unwrap_or(&empty);
    names.extend(ifaces.keys().map(String::as_str));
    for name in names {
        let _ = writeln!(s, "  <interface name=\"{name}\">");
        let (methods, signals) = members(name);
        for (m, args) in methods {
            let _ = writeln!(s, "    <method name=\"{m}\">");
            for (a, t, d) in *args {
                let _ = writeln!(
                    s,
                    "      <arg name=\"{a}\" type=\"{t}\" direction=\"{d}\"/>"
                );
            }
            let _ = writeln!(s, "    </method>");
        }
        for (m, args) in signals {
            let _ = writeln!(s, "    <signal name=\"{m}\">");
            for (a, t) in *args {
                let _ = writeln!(s, "      <arg name=\"{a}\" type=\"{t}\"/>");
            }
            let _ = writeln!(s, "    </signal>");
        }
        if let Some(props) = ifaces.get(name) {
            for (p, val) in props {
                let access = if writable(name, p) {
                    "readwrite"
                } else {
                    "read"
                };
                let _ = writeln!(
                    s,
                    "    <property name=\"{p}\" type=\"{}\" access=\"{access}\"/>",
                    val.0.signature()
                );
            }
        }
        let _ = writeln!(s, "  </interface>");
    }
    for c in children {
        let _ = writeln!(s, "  <node name=\"{c}\"/>");
    }
    s.push_str("</node>\n");
    s
}
