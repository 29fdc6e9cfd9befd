//! The probe-rs glue, tested without a chip: selectors, the target registry after the plugin is
//! registered, and what each way of not getting a probe says.

use std::io;

use probe_rs::config::Registry;
use probe_rs::probe::list::{Accessibility, Lister, ProbeListItem, ProbeLister};
use probe_rs::probe::{
    DebugProbeError, DebugProbeInfo, DebugProbeSelector, Probe, ProbeCreationError,
};
use probe_rs_espressif::espusbjtag::EspUsbJtagFactory;

use super::*;
use crate::backend::BoardControl;
use crate::inventory::check::probe_selector;

#[test]
fn selectors_with_mac_serials_parse_as_probe_rs_reads_them() {
    for s in [
        "303a:1001:F4:12:FA:00:11:22",
        "303a:1002:94:B5:55:F3:54:48",
        "0403:6010-0:ESPPROG123",
        "303a:1001",
        "303a:1001:",
    ] {
        let theirs: DebugProbeSelector = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        let (vid, pid, iface, serial) = probe_selector(s).unwrap();
        assert_eq!(
            (
                theirs.vendor_id,
                theirs.product_id,
                theirs.interface,
                theirs.serial_number
            ),
            (vid, pid, iface, serial),
            "{s}"
        );
    }
    let mac: DebugProbeSelector = "303a:1001:F4:12:FA:00:11:22".parse().unwrap();
    assert_eq!(mac.serial_number.as_deref(), Some("F4:12:FA:00:11:22"));
    for bad in ["zz:1001", "303a", "303a:10x1:AB", "303a:1001-x:AB"] {
        assert!(bad.parse::<DebugProbeSelector>().is_err(), "{bad}");
        assert!(probe_selector(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_plugin_brings_the_esp32_targets() {
    register();
    let registry = Registry::from_builtin_families();
    for (chip, cores) in [("esp32", 2), ("esp32c3", 1), ("esp32c6", 1), ("esp32s3", 2)] {
        let t = registry
            .get_target_by_name(chip)
            .unwrap_or_else(|e| panic!("{chip}: {e}"));
        assert_eq!(t.cores.len(), cores, "{chip}");
    }
}

/// A rack of probes that exist only here.
#[derive(Debug)]
struct FakeRack {
    listed: Vec<(Accessibility, &'static str)>,
    open_error: fn() -> DebugProbeError,
}

impl ProbeLister for FakeRack {
    fn open(&self, _selector: &DebugProbeSelector) -> Result<Probe, DebugProbeError> {
        Err((self.open_error)())
    }

    fn list_with_access(&self, selector: Option<&DebugProbeSelector>) -> Vec<ProbeListItem> {
        self.listed
            .iter()
            .map(|(access, serial)| ProbeListItem {
                info: DebugProbeInfo::new(
                    "ESP JTAG",
                    0x303a,
                    0x1001,
                    Some((*serial).to_owned()),
                    &EspUsbJtagFactory,
                    None,
                    false,
                ),
                accessibility: *access,
            })
            .filter(|p| selector.is_none_or(|s| s.matches_probe(&p.info)))
            .collect()
    }
}

fn board(rack: FakeRack) -> ProbeRs {
    ProbeRs::with_lister(
        "303a:1001:F4:12:FA:00:11:22",
        "esp32c3",
        std::env::temp_dir().join("hil-probe-record"),
        Box::new(move || {
            Lister::with_lister(Box::new(FakeRack {
                listed: rack.listed.clone(),
                open_error: rack.open_error,
            }))
        }),
    )
}

fn not_found() -> DebugProbeError {
    DebugProbeError::ProbeCouldNotBeCreated(ProbeCreationError::NotFound)
}

#[test]
fn no_probe_busy_probe_and_no_permission_say_so() {
    // Nothing plugged in (another board's probe is).
    let mut b = board(FakeRack {
        listed: vec![(Accessibility::Accessible, "AA:BB:CC:DD:EE:FF")],
        open_error: not_found,
    });
    let e = b.present().unwrap_err();
    assert!(
        e.contains("no probe matches 303a:1001:F4:12:FA:00:11:22"),
        "{e}"
    );
    assert!(b.reset().unwrap_err().contains("no probe matches"));

    // Listed, but held by another program.
    let mut b = board(FakeRack {
        listed: vec![(Accessibility::Accessible, "F4:12:FA:00:11:22")],
        open_error: || DebugProbeError::ProbeCouldNotBeCreated(ProbeCreationError::CouldNotOpen),
    });
    assert!(b.present().is_ok());
    let e = b.reset().unwrap_err();
    assert!(e.contains("is busy"), "{e}");

    // Listed without permission (no udev rule).
    let mut b = board(FakeRack {
        listed: vec![(Accessibility::PermissionDenied, "F4:12:FA:00:11:22")],
        open_error: || {
            DebugProbeError::ProbeCouldNotBeCreated(ProbeCreationError::Usb(io::Error::from(
                io::ErrorKind::PermissionDenied,
            )))
        },
    });
    let e = b.present().unwrap_err();
    assert!(e.contains("udev rules"), "{e}");
    let e = b.erase(0x9000..0xF000).unwrap_err();
    assert!(e.contains("permission denied") && e.contains("udev"), "{e}");
}
