//! Recovering a real board: re-enumerating its USB device, and switching its power.
//!
//! - USB reset: the console's USB device is de-authorised and authorised again through sysfs
//!   (`/sys/bus/usb/devices/<dev>/authorized`), which makes it enumerate anew, as a re-plug would (the
//!   cure for a wedged USB-Serial-JTAG);
//! - power: a hub port through sysfs (`…/<hub>:1.0/<hub>-port<N>/disable`), `uhubctl`, or two commands
//!   (a relay board's CLI). Both need root or a udev rule giving the user those files (hil/README.md).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::Power;
use crate::inventory::PowerSpec;

/// A real board's USB link and power switch.
pub struct HostPower {
    /// The console device (`/dev/serial/by-id/…`), whose USB device is reset.
    pub console: PathBuf,
    /// How power is switched.
    pub spec: PowerSpec,
}

impl Power for HostPower {
    fn describe(&self) -> String {
        match &self.spec {
            PowerSpec::None => "no power switch".into(),
            PowerSpec::SysfsPort(p) => format!("hub port {p} (sysfs)"),
            PowerSpec::Uhubctl { hub, port } => format!("uhubctl -l {hub} -p {port}"),
            PowerSpec::Command { .. } => "power commands".into(),
        }
    }

    fn usb_reset(&mut self) -> Result<(), String> {
        let dev = usb_device_of(&self.console)?;
        let auth = dev.join("authorized");
        write(&auth, "0")?;
        std::thread::sleep(Duration::from_millis(500));
        write(&auth, "1")?;
        // Let it enumerate and udev recreate the by-id link.
        std::thread::sleep(Duration::from_secs(2));
        Ok(())
    }

    fn cycle(&mut self, off: Duration) -> Result<(), String> {
        match &self.spec {
            PowerSpec::None => Err("the board has no power switch (inventory `power`)".into()),
            PowerSpec::SysfsPort(port) => {
                let file = port_disable_file(port)?;
                write(&file, "1")?;
                std::thread::sleep(off);
                write(&file, "0")
            }
            PowerSpec::Uhubctl { hub, port } => {
                let port = port.to_string();
                run("uhubctl", &["-l", hub, "-p", &port, "-a", "off"])?;
                std::thread::sleep(off);
                run("uhubctl", &["-l", hub, "-p", &port, "-a", "on"])
            }
            PowerSpec::Command { off: down, on } => {
                run("sh", &["-c", down])?;
                std::thread::sleep(off);
                run("sh", &["-c", on])
            }
        }
    }
}

/// The USB device directory in sysfs behind a tty path (`/dev/serial/by-id/…` → `/dev/ttyACM0` →
/// `/sys/class/tty/ttyACM0/device` (an interface) → its parent, the device).
pub fn usb_device_of(tty: &Path) -> Result<PathBuf, String> {
    let real = std::fs::canonicalize(tty).map_err(|e| format!("{}: {e}", tty.display()))?;
    let name = real
        .file_name()
        .ok_or_else(|| format!("{}: not a device path", real.display()))?;
    let iface = std::fs::canonicalize(Path::new("/sys/class/tty").join(name).join("device"))
        .map_err(|e| {
            format!(
                "{} has no sysfs device ({e}): not a USB serial port",
                real.display()
            )
        })?;
    iface
        .ancestors()
        .find(|d| d.join("authorized").is_file() && d.join("idVendor").is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            format!(
                "{}: no USB device above {}",
                real.display(),
                iface.display()
            )
        })
}

/// `1-1.3` (port 3 of hub 1-1) → `/sys/bus/usb/devices/1-1:1.0/1-1-port3/disable`; `1-2` (port 2 of
/// root hub 1) → `/sys/bus/usb/devices/1-0:1.0/usb1-port2/disable`.
fn port_disable_file(port: &str) -> Result<PathBuf, String> {
    let bad = || format!("hub port {port:?} is not like 1-1.3 (hub 1-1, port 3) or 1-2");
    let file = match port.rsplit_once('.') {
        Some((hub, n)) => format!("/sys/bus/usb/devices/{hub}:1.0/{hub}-port{n}/disable"),
        None => {
            let (bus, n) = port.split_once('-').ok_or_else(bad)?;
            format!("/sys/bus/usb/devices/{bus}-0:1.0/usb{bus}-port{n}/disable")
        }
    };
    let file = PathBuf::from(file);
    if file.exists() {
        Ok(file)
    } else {
        Err(format!(
            "{} does not exist (per-port disable needs Linux 6.0+ and that hub port)",
            file.display()
        ))
    }
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => format!(
            "{}: permission denied (run as root or add the udev rule in hil/README.md)",
            path.display()
        ),
        _ => format!("{}: {e}", path.display()),
    })
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let st = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| format!("{program}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{program} {} exited with {st}", args.join(" ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pseudo_terminal_has_no_usb_device_and_says_so() {
        let e = usb_device_of(Path::new("/dev/null")).unwrap_err();
        assert!(e.contains("not a USB serial port"), "{e}");
        let e = port_disable_file("1-1.3").unwrap_err();
        assert!(
            e.contains("/sys/bus/usb/devices/1-1:1.0/1-1-port3/disable"),
            "{e}"
        );
        let mut p = HostPower {
            console: "/dev/null".into(),
            spec: PowerSpec::None,
        };
        assert!(p
            .cycle(Duration::ZERO)
            .unwrap_err()
            .contains("no power switch"));
        let mut c = HostPower {
            console: "/dev/null".into(),
            spec: PowerSpec::Command {
                off: "true".into(),
                on: "exit 3".into(),
            },
        };
        assert!(c.cycle(Duration::ZERO).unwrap_err().contains("exited"));
    }
}
