//! Checks that span fields or boards (unique ids, probes and consoles; radios that exist and fit;
//! what a virtual board may not have), and the firmware check that reads each board's bundle and
//! device file ([`firmware`], for `--dry-run` and before a run).

use std::collections::BTreeMap;
use std::path::Path;

use conformance::description::Description;

use super::{BoardSpec, Capability, ConsoleKind, InventoryError, PowerSpec, Rack, RadioKind};
use crate::firmware::Bundle;

/// `VID:PID[-IFACE][:SERIAL]`, as probe-rs reads a selector: hex ids, the serial is everything after
/// the second colon (an ESP USB-JTAG's serial is its MAC, colons and all).
pub fn probe_selector(s: &str) -> Result<(u16, u16, Option<u8>, Option<String>), String> {
    let mut parts = s.splitn(3, ':');
    let vid = parts.next().unwrap_or_default();
    let pid_iface = parts.next().ok_or_else(|| {
        format!("{s:?} is not VID:PID[-IFACE][:SERIAL], e.g. \"303a:1001:F4:12:FA:00:11:22\"")
    })?;
    let (pid, iface) = match pid_iface.split_once('-') {
        Some((p, "")) => (p, None),
        Some((p, i)) => (
            p,
            Some(
                i.parse::<u8>()
                    .map_err(|_| format!("{s:?}: interface {i:?} is not a number"))?,
            ),
        ),
        None => (pid_iface, None),
    };
    let hex16 = |h: &str, what: &str| {
        u16::from_str_radix(h, 16).map_err(|_| format!("{s:?}: {what} {h:?} is not 4 hex digits"))
    };
    Ok((
        hex16(vid, "vendor id")?,
        hex16(pid, "product id")?,
        iface,
        parts.next().map(str::to_owned),
    ))
}

fn at(rack: &Rack, b: &BoardSpec, field: &str, message: impl Into<String>) -> InventoryError {
    InventoryError {
        file: rack.file.clone(),
        item: Some(format!("board {:?}", b.id)),
        field: field.into(),
        message: message.into(),
    }
}

/// Checks across fields and boards.
pub(super) fn rack(rack: &Rack) -> Vec<InventoryError> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for b in &rack.boards {
        let mut once = |what: &str, key: String, field: &str| {
            if let Some(other) = seen.insert(format!("{what}:{key}"), &b.id) {
                out.push(at(
                    rack,
                    b,
                    field,
                    format!("{key:?} is also board {other:?}'s"),
                ));
            }
        };
        once("id", b.id.clone(), "id");
        if let Some(p) = &b.probe {
            once("probe", p.to_ascii_lowercase(), "probe");
        }
        if let Some(c) = &b.console {
            once("console", c.path.display().to_string(), "console.path");
        }
    }
    let mut names = BTreeMap::new();
    for r in &rack.radios {
        if names.insert(r.name.clone(), ()).is_some() {
            out.push(InventoryError {
                file: rack.file.clone(),
                item: Some(format!("radio {:?}", r.name)),
                field: "name".into(),
                message: "two radios have this name".into(),
            });
        }
    }
    for b in &rack.boards {
        board(rack, b, &mut out);
    }
    out
}

fn board(rack: &Rack, b: &BoardSpec, out: &mut Vec<InventoryError>) {
    if b.firmware.transports.is_empty() {
        out.push(at(
            rack,
            b,
            "firmware.transports",
            "name at least one of ble, softap, console",
        ));
    }
    for t in &b.firmware.transports {
        if !b.capabilities.contains(t) {
            out.push(at(
                rack,
                b,
                "firmware.transports",
                format!("{} is not among the board's capabilities", t.name()),
            ));
        }
    }
    for (cap, kind, named, field) in [
        (Capability::Ble, RadioKind::Ble, &b.ble_radio, "radios.ble"),
        (
            Capability::Softap,
            RadioKind::Wifi,
            &b.wifi_radio,
            "radios.wifi",
        ),
    ] {
        if !b.firmware.transports.contains(&cap) {
            continue;
        }
        match radio_for(rack, kind, named.as_deref()) {
            Ok(r) if r.is_virtual != b.virtual_board.is_some() => out.push(at(
                rack,
                b,
                field,
                if r.is_virtual {
                    format!(
                        "radio {:?} is virtual; a real board needs a real one",
                        r.name
                    )
                } else {
                    format!(
                        "radio {:?} is real; a virtual board needs a virtual one",
                        r.name
                    )
                },
            )),
            Ok(_) => {}
            Err(e) => out.push(at(rack, b, field, e)),
        }
    }
    if b.virtual_board.is_some() {
        for (set, field) in [
            (b.probe.is_some(), "probe"),
            (b.console.is_some(), "console"),
            (b.power != PowerSpec::None, "power"),
        ] {
            if set {
                out.push(at(rack, b, field, "a virtual board has none: its console is a pseudo-terminal, its power the process"));
            }
        }
        return;
    }
    match &b.console {
        None => out.push(at(
            rack,
            b,
            "console",
            "missing: the board's console (path and kind)",
        )),
        Some(c) => {
            if !c.path.is_absolute() {
                out.push(at(
                    rack,
                    b,
                    "console.path",
                    "use the absolute /dev/serial/by-id/… path (stable across re-plugging)",
                ));
            }
            if b.probe.is_none() && c.kind == ConsoleKind::UsbSerialJtag {
                out.push(at(
                    rack,
                    b,
                    "probe",
                    "a USB-Serial-JTAG board is flashed through its JTAG: give its probe selector (303a:1001:<serial>)",
                ));
            }
        }
    }
}

/// The radio of `kind` a board uses: the one it names, or the only one of that kind.
pub fn radio_for<'a>(
    rack: &'a Rack,
    kind: RadioKind,
    named: Option<&str>,
) -> Result<&'a super::Radio, String> {
    let what = match kind {
        RadioKind::Ble => "BLE",
        RadioKind::Wifi => "Wi-Fi",
    };
    if let Some(n) = named {
        return match rack.radio(n) {
            Some(r) if r.kind == kind => Ok(r),
            Some(_) => Err(format!("radio {n:?} is not a {what} radio")),
            None => Err(format!("no [[radio]] is named {n:?}")),
        };
    }
    let mut of_kind = rack.radios.iter().filter(|r| r.kind == kind);
    match (of_kind.next(), of_kind.next()) {
        (Some(r), None) => Ok(r),
        (None, _) => Err(format!(
            "the firmware needs a {what} radio and the rack lists none"
        )),
        (Some(_), Some(_)) => Err(format!("the rack has several {what} radios: name one")),
    }
}

/// Reads each board's firmware bundle and device file, and checks they fit the board.
pub fn firmware(rack: &Rack) -> Vec<InventoryError> {
    let mut out = Vec::new();
    for b in &rack.boards {
        let fw = &b.firmware;
        match Bundle::load(&fw.flasher_args) {
            Ok(bundle) => {
                if let Some(chip) = &bundle.chip {
                    if chip != b.chip.name() {
                        out.push(at(
                            rack,
                            b,
                            "firmware.flasher_args",
                            format!(
                                "the bundle was built for {chip}, the board is an {}",
                                b.chip
                            ),
                        ));
                    }
                }
                if b.virtual_board.is_some() {
                    if let Err(e) = crate::virtual_board::app::VirtualApp::from_bundle(&bundle) {
                        out.push(at(rack, b, "firmware.flasher_args", e));
                    }
                }
            }
            Err(e) => out.push(at(rack, b, "firmware.flasher_args", e)),
        }
        if let Err(e) = device(&fw.device) {
            out.push(at(rack, b, "firmware.device", e));
        }
    }
    out
}

fn device(path: &Path) -> Result<Description, String> {
    Description::load(path)
}
