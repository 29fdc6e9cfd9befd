//! From TOML to a [`Rack`]: every field read on its own, so a problem names the file, the board and
//! the field (`rack.toml: board "c3-01": field `console.path`: …`), and every problem is reported,
//! not only the first.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::{
    BoardSpec, Capability, ConsoleKind, ConsoleSpec, FirmwareSpec, InventoryError, InventoryErrors,
    PowerSpec, Rack, Radio, RadioKind, VirtualSpec,
};

/// A hardware fault a virtual board shows on purpose (the fault rack).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// Every flash write fails, as with a broken flash chip or a probe that lost the target.
    FlashFails,
    /// The app hangs after the scheduler starts: the readiness line never comes.
    NeverReady,
    /// The console's USB device disappears some time after the board first became ready.
    ConsoleVanishes,
}

impl Fault {
    /// Its name in the inventory.
    pub fn name(self) -> &'static str {
        match self {
            Self::FlashFails => "flash-fails",
            Self::NeverReady => "never-ready",
            Self::ConsoleVanishes => "console-vanishes",
        }
    }
}

/// Default wait for the readiness line after a reset (shared spec HIL.md §5: plan 10 s).
const READY_TIMEOUT_MS: u64 = 10_000;

/// Reads the fields of one table, collecting problems.
struct Fields<'a> {
    file: &'a Path,
    item: Option<String>,
    prefix: String,
    table: toml::Table,
    used: BTreeSet<String>,
    errors: &'a mut Vec<InventoryError>,
}

impl<'a> Fields<'a> {
    fn err(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(InventoryError {
            file: self.file.to_owned(),
            item: self.item.clone(),
            field: format!("{}{key}", self.prefix),
            message: message.into(),
        });
    }

    fn opt<T: DeserializeOwned>(&mut self, key: &str) -> Option<T> {
        self.used.insert(key.to_owned());
        let v = self.table.get(key)?.clone();
        match T::deserialize(v) {
            Ok(t) => Some(t),
            Err(e) => {
                self.err(key, e.message().to_owned());
                None
            }
        }
    }

    fn req<T: DeserializeOwned>(&mut self, key: &str) -> Option<T> {
        if !self.table.contains_key(key) {
            self.used.insert(key.to_owned());
            self.err(key, "missing");
            return None;
        }
        self.opt(key)
    }

    /// A nested table's fields, reported as `prefix.key`.
    fn nested(&mut self, key: &str) -> Option<Fields<'_>> {
        let table: toml::Table = self.opt(key)?;
        Some(Fields {
            file: self.file,
            item: self.item.clone(),
            prefix: format!("{}{key}.", self.prefix),
            table,
            used: BTreeSet::new(),
            errors: self.errors,
        })
    }

    /// Reports keys nobody read.
    fn finish(self) {
        let unknown: Vec<String> = self
            .table
            .keys()
            .filter(|k| !self.used.contains(*k))
            .cloned()
            .collect();
        let Self {
            file,
            item,
            prefix,
            errors,
            ..
        } = self;
        for k in unknown {
            errors.push(InventoryError {
                file: file.to_owned(),
                item: item.clone(),
                field: format!("{prefix}{k}"),
                message: "unknown field (hil/README.md lists the inventory's fields)".into(),
            });
        }
    }
}

/// Parses and checks an inventory.
pub(super) fn parse(file: &Path, text: &str) -> Result<Rack, InventoryErrors> {
    let mut errors = Vec::new();
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        InventoryErrors(vec![InventoryError {
            file: file.to_owned(),
            item: None,
            field: String::new(),
            message: format!("not valid TOML: {}", e.to_string().trim_end()),
        }])
    })?;
    let base = file.parent().unwrap_or(Path::new(".")).to_owned();
    let mut top = Fields {
        file,
        item: None,
        prefix: String::new(),
        table,
        used: BTreeSet::new(),
        errors: &mut errors,
    };
    let host: Option<String> = top.req("host");
    let lock_dir: Option<PathBuf> = top.opt("lock_dir");
    let work_dir: Option<PathBuf> = top.opt("work_dir");
    let radio_tables: Vec<toml::Table> = top.opt("radio").unwrap_or_default();
    let board_tables: Vec<toml::Table> = top.opt("board").unwrap_or_default();
    top.finish();
    let radios: Vec<Radio> = radio_tables
        .into_iter()
        .enumerate()
        .filter_map(|(i, t)| radio(file, i, t, &mut errors))
        .collect();
    let boards: Vec<BoardSpec> = board_tables
        .into_iter()
        .enumerate()
        .filter_map(|(i, t)| board(file, &base, i, t, &mut errors))
        .collect();
    if boards.is_empty() && errors.is_empty() {
        errors.push(InventoryError {
            file: file.to_owned(),
            item: None,
            field: "board".into(),
            message: "the rack lists no board ([[board]] tables)".into(),
        });
    }
    let rack = Rack {
        file: file.to_owned(),
        host: host.unwrap_or_default(),
        lock_dir: lock_dir.map(|d| base.join(d)),
        work_dir: work_dir.map(|d| base.join(d)),
        radios,
        boards,
    };
    errors.extend(super::check::rack(&rack));
    if errors.is_empty() {
        Ok(rack)
    } else {
        Err(InventoryErrors(errors))
    }
}

/// What to call item `i` of `kind` in messages: by its name when it has one.
fn item_name(kind: &str, key: &str, i: usize, t: &toml::Table) -> String {
    match t.get(key).and_then(toml::Value::as_str) {
        Some(name) => format!("{kind} {name:?}"),
        None => format!("{kind} #{}", i + 1),
    }
}

fn radio(file: &Path, i: usize, t: toml::Table, errors: &mut Vec<InventoryError>) -> Option<Radio> {
    let before = errors.len();
    let mut f = Fields {
        file,
        item: Some(item_name("radio", "name", i, &t)),
        prefix: String::new(),
        table: t,
        used: BTreeSet::new(),
        errors,
    };
    let name: Option<String> = f.req("name");
    let kind = match f.req::<String>("kind").as_deref() {
        Some("ble") => Some(RadioKind::Ble),
        Some("wifi") => Some(RadioKind::Wifi),
        Some(other) => {
            f.err("kind", format!("{other:?} is neither ble nor wifi"));
            None
        }
        None => None,
    };
    let adapter: Option<String> = f.opt("adapter");
    let interface: Option<String> = f.opt("interface");
    let join: Option<String> = f.opt("join");
    let leave: Option<String> = f.opt("leave");
    let is_virtual: bool = f.opt("virtual").unwrap_or(false);
    match kind {
        Some(RadioKind::Ble) if adapter.is_none() => f.err(
            "adapter",
            "a BLE radio names its BlueZ adapter, e.g. \"hci0\"",
        ),
        Some(RadioKind::Wifi) if interface.is_none() => f.err(
            "interface",
            "a Wi-Fi radio names its interface, e.g. \"wlan1\" (\"lo\" when virtual)",
        ),
        _ => {}
    }
    f.finish();
    (errors.len() == before).then(|| Radio {
        name: name.unwrap_or_default(),
        kind: kind.unwrap_or(RadioKind::Ble),
        adapter,
        interface,
        join,
        leave,
        is_virtual,
    })
}

fn board(
    file: &Path,
    base: &Path,
    i: usize,
    t: toml::Table,
    errors: &mut Vec<InventoryError>,
) -> Option<BoardSpec> {
    let before = errors.len();
    let mut f = Fields {
        file,
        item: Some(item_name("board", "id", i, &t)),
        prefix: String::new(),
        table: t,
        used: BTreeSet::new(),
        errors,
    };
    let id: Option<String> = f.req("id");
    if id.as_deref().is_some_and(|id| {
        id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    }) {
        f.err(
            "id",
            "use letters, digits, '-', '_' and '.' (it names files and locks)",
        );
    }
    let chip = f.req::<String>("chip").and_then(|c| match c.parse() {
        Ok(chip) => Some(chip),
        Err(e) => {
            f.err("chip", e);
            None
        }
    });
    let mac = f.req::<String>("mac").and_then(|m| match parse_mac(&m) {
        Some(mac) => Some(mac),
        None => {
            f.err(
                "mac",
                format!("{m:?} is not six hex bytes like \"F4:12:FA:00:11:22\""),
            );
            None
        }
    });
    let probe: Option<String> = f.opt("probe");
    if let Some(p) = &probe {
        if let Err(e) = super::check::probe_selector(p) {
            f.err("probe", e);
        }
    }
    let capabilities: BTreeSet<Capability> = f
        .opt::<Vec<String>>("capabilities")
        .unwrap_or_default()
        .iter()
        .filter_map(|c| {
            capability(c).or_else(|| {
                f.err(
                    "capabilities",
                    format!("{c:?} is not one of ble, softap, console"),
                );
                None
            })
        })
        .collect();
    let power = f.nested("power").map(power);
    let (ble_radio, wifi_radio) = match f.nested("radios") {
        Some(mut r) => {
            let out = (r.opt("ble"), r.opt("wifi"));
            r.finish();
            out
        }
        None => (None, None),
    };
    let console = f.nested("console").map(|c| console(c, base));
    let firmware = match f.nested("firmware") {
        Some(fw) => firmware(fw, base),
        None => {
            f.err("firmware", "missing (flasher_args, device, transports)");
            None
        }
    };
    let ready_timeout =
        Duration::from_millis(f.opt("ready_timeout_ms").unwrap_or(READY_TIMEOUT_MS));
    let virtual_board = f.nested("virtual").map(|mut v| {
        let faults: BTreeSet<Fault> = v
            .opt::<Vec<Fault>>("faults")
            .unwrap_or_default()
            .into_iter()
            .collect();
        let vanish_after = Duration::from_millis(v.opt("vanish_after_ms").unwrap_or(3_000));
        v.finish();
        VirtualSpec {
            faults,
            vanish_after,
        }
    });
    f.finish();
    let (power, console, firmware) = (power.flatten(), console.flatten(), firmware);
    if errors.len() != before {
        return None;
    }
    Some(BoardSpec {
        id: id?,
        chip: chip?,
        mac: mac?,
        probe,
        console,
        power: power.unwrap_or(PowerSpec::None),
        capabilities,
        ble_radio,
        wifi_radio,
        firmware: firmware?,
        ready_timeout,
        virtual_board,
    })
}

fn power(mut p: Fields<'_>) -> Option<PowerSpec> {
    let out = match p.req::<String>("kind").as_deref() {
        Some("none") => Some(PowerSpec::None),
        Some("sysfs-port") => p.req("port").map(PowerSpec::SysfsPort),
        Some("uhubctl") => match (p.req("hub"), p.req("port")) {
            (Some(hub), Some(port)) => Some(PowerSpec::Uhubctl { hub, port }),
            _ => None,
        },
        Some("command") => match (p.req("off"), p.req("on")) {
            (Some(off), Some(on)) => Some(PowerSpec::Command { off, on }),
            _ => None,
        },
        Some(other) => {
            p.err(
                "kind",
                format!("{other:?} is not one of none, sysfs-port, uhubctl, command"),
            );
            None
        }
        None => None,
    };
    p.finish();
    out
}

fn console(mut c: Fields<'_>, base: &Path) -> Option<ConsoleSpec> {
    let path: Option<PathBuf> = c.req("path");
    let kind = match c.req::<String>("kind").as_deref() {
        Some("usb-serial-jtag") => Some(ConsoleKind::UsbSerialJtag),
        Some("uart-bridge") => Some(ConsoleKind::UartBridge),
        Some(other) => {
            c.err(
                "kind",
                format!("{other:?} is neither usb-serial-jtag nor uart-bridge"),
            );
            None
        }
        None => None,
    };
    let baud: u32 = c.opt("baud").unwrap_or(115_200);
    if baud == 0 {
        c.err("baud", "must be above 0");
    }
    c.finish();
    Some(ConsoleSpec {
        path: base.join(path?),
        kind: kind?,
        baud,
    })
}

fn firmware(mut fw: Fields<'_>, base: &Path) -> Option<FirmwareSpec> {
    let flasher_args: Option<PathBuf> = fw.req("flasher_args");
    let device: Option<PathBuf> = fw.req("device");
    let transports: Vec<Capability> = fw
        .req::<Vec<String>>("transports")
        .unwrap_or_default()
        .iter()
        .filter_map(|t| {
            capability(t).or_else(|| {
                fw.err(
                    "transports",
                    format!("{t:?} is not one of ble, softap, console"),
                );
                None
            })
        })
        .collect();
    let softap = fw.opt::<String>("softap").and_then(|s| match s.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            fw.err(
                "softap",
                format!("{s:?} is not HOST:PORT, e.g. \"192.168.4.1:80\""),
            );
            None
        }
    });
    fw.finish();
    Some(FirmwareSpec {
        flasher_args: base.join(flasher_args?),
        device: base.join(device?),
        transports,
        softap,
    })
}

fn capability(s: &str) -> Option<Capability> {
    [Capability::Ble, Capability::Softap, Capability::Console]
        .into_iter()
        .find(|c| c.name() == s)
}

/// `F4:12:FA:00:11:22` (or with `-`).
pub(crate) fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6 {
        return None;
    }
    for (d, p) in mac.iter_mut().zip(parts) {
        if p.len() != 2 {
            return None;
        }
        *d = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}
