//! The rack inventory: one TOML file per rack host, naming its boards and the host radios they are
//! reached through. `hil/examples/virtual-rack.toml` is a complete example; `hil/README.md` documents
//! every field.
//!
//! ```toml
//! host = "rack1-a"                       # this host's name, in reports and locks
//!
//! [[radio]]                              # host radios are shared resources, locked like boards
//! name = "ble0"
//! kind = "ble"                           # ble: a BlueZ adapter; wifi: a NIC that joins SoftAPs
//! adapter = "hci0"
//!
//! [[board]]
//! id = "c3-01"                           # stable name in reports
//! chip = "esp32c3"                       # probe-rs target name
//! mac = "F4:12:FA:00:11:22"              # station MAC: the PROV_ name comes from its last 3 bytes
//! probe = "303a:1001:F4:12:FA:00:11:22"  # VID:PID[-IFACE][:SERIAL]; none: flash over the console
//! capabilities = ["ble", "softap"]
//! power = { kind = "uhubctl", hub = "1-1", port = 3 }   # or sysfs-port, command, none
//! radios = { ble = "ble0" }
//! console = { path = "/dev/serial/by-id/usb-Espressif_USB_JTAG_serial_debug_unit_F4:12:FA:00:11:22-if00", kind = "usb-serial-jtag" }
//! firmware = { flasher_args = "fw/c3/flasher_args.json", device = "fw/c3/device.toml", transports = ["ble"] }
//! ```
//!
//! Loading ([`Rack::load`]) checks every field ([`check`]) and reports each problem with the file, the
//! board and the field it is about.

pub mod check;
mod raw;

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sim_device::runtime::uart::rom::Chip;

pub use self::raw::Fault;

/// A problem in an inventory, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InventoryError {
    /// The inventory file.
    pub file: PathBuf,
    /// The board (or radio) it is about, if any: `board "c3-01"`.
    pub item: Option<String>,
    /// The field, e.g. `console.path`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file.display())?;
        if let Some(item) = &self.item {
            write!(f, "{item}: ")?;
        }
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "field `{}`: {}", self.field, self.message)
        }
    }
}

/// Every problem found, one per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InventoryErrors(pub Vec<InventoryError>);

impl fmt::Display for InventoryErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InventoryErrors {}

/// What a board offers for provisioning: the transports of the firmware it can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// BLE GATT (through a host BLE radio).
    Ble,
    /// SoftAP + HTTP (through a host Wi-Fi NIC that joins the board's access point).
    Softap,
    /// The console line protocol on the board's UART.
    Console,
}

impl Capability {
    /// Its name in the inventory and in column labels.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ble => "ble",
            Self::Softap => "softap",
            Self::Console => "console",
        }
    }
}

/// The kind of a host radio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RadioKind {
    /// A BlueZ adapter.
    Ble,
    /// A Wi-Fi station NIC.
    Wifi,
}

/// A host radio.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Radio {
    /// Its name in the inventory (and lock file).
    pub name: String,
    /// BLE adapter or Wi-Fi NIC.
    pub kind: RadioKind,
    /// BLE: the BlueZ adapter, e.g. `hci0`.
    pub adapter: Option<String>,
    /// Wi-Fi: the interface, e.g. `wlx001122334455`.
    pub interface: Option<String>,
    /// Wi-Fi: the command that joins a board's SoftAP (`{ssid}`, `{interface}` substituted).
    pub join: Option<String>,
    /// Wi-Fi: the command that leaves it again.
    pub leave: Option<String>,
    /// A radio for virtual boards: BLE through bluez-loopback, Wi-Fi as loopback HTTP.
    pub is_virtual: bool,
}

/// How a board's console is wired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleSpec {
    /// The serial device, by its stable `/dev/serial/by-id/…` name.
    pub path: PathBuf,
    /// `usb-serial-jtag` (the chip's own USB) or `uart-bridge` (a USB-UART chip on UART0).
    pub kind: ConsoleKind,
    /// Baud rate (UART bridges; USB-Serial-JTAG ignores it).
    pub baud: u32,
}

/// What sits between the host and the chip's console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleKind {
    /// The built-in USB-Serial-JTAG (C3, C6, S3…): one cable for probe and console.
    UsbSerialJtag,
    /// A USB-UART bridge (CP210x, CH34x, FTDI) on UART0, with DTR/RTS wired to EN and GPIO0.
    UartBridge,
}

/// How the board's power is switched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PowerSpec {
    /// Not switchable.
    None,
    /// A USB hub port through sysfs (`/sys/bus/usb/devices/<port>/disable`), e.g. `1-1.3`.
    SysfsPort(String),
    /// `uhubctl -l HUB -p PORT`.
    Uhubctl {
        /// Hub location, e.g. `1-1`.
        hub: String,
        /// Port number.
        port: u32,
    },
    /// Two commands (sh -c), e.g. a relay board's CLI.
    Command {
        /// Switches power off.
        off: String,
        /// Switches it on.
        on: String,
    },
}

/// The firmware a board runs, and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirmwareSpec {
    /// The ESP-IDF build's `flasher_args.json`.
    pub flasher_args: PathBuf,
    /// The conformance device file: security, PoP or password, profile, networks it can join.
    pub device: PathBuf,
    /// How provisioning reaches it, in run order.
    pub transports: Vec<Capability>,
    /// Where its SoftAP's HTTP server answers (default 192.168.4.1:80; virtual boards choose a loopback
    /// port).
    pub softap: Option<SocketAddr>,
}

/// A virtual board: `sim-device` behind the same traits as a chip.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VirtualSpec {
    /// Hardware faults it shows.
    pub faults: BTreeSet<Fault>,
    /// `console-vanishes`: how long after the board first became ready.
    pub vanish_after: Duration,
}

/// One board.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoardSpec {
    /// Its id.
    pub id: String,
    /// Its chip.
    pub chip: Chip,
    /// Station MAC.
    pub mac: [u8; 6],
    /// Debug probe selector (`VID:PID[-IFACE][:SERIAL]`), if one is wired.
    pub probe: Option<String>,
    /// The console (real boards).
    pub console: Option<ConsoleSpec>,
    /// Power switching.
    pub power: PowerSpec,
    /// What it offers.
    pub capabilities: BTreeSet<Capability>,
    /// The host BLE radio it is reached through (a [`Radio::name`]).
    pub ble_radio: Option<String>,
    /// The host Wi-Fi radio that joins its SoftAP.
    pub wifi_radio: Option<String>,
    /// Its firmware.
    pub firmware: FirmwareSpec,
    /// Longest wait for the readiness line after a reset.
    pub ready_timeout: Duration,
    /// Set for a virtual board.
    pub virtual_board: Option<VirtualSpec>,
}

impl BoardSpec {
    /// `PROV_` + the last three MAC bytes: the name the example firmware advertises.
    pub fn expected_service_name(&self) -> String {
        let m = &self.mac;
        format!("PROV_{:02X}{:02X}{:02X}", m[3], m[4], m[5])
    }
}

/// A loaded, checked inventory.
#[derive(Clone, Debug)]
pub struct Rack {
    /// The file it came from.
    pub file: PathBuf,
    /// The host's name.
    pub host: String,
    /// Where advisory lock files go (default: [`Rack::default_lock_dir`]).
    pub lock_dir: Option<PathBuf>,
    /// Where boards keep their state (virtual flash, flash records, logs); default `target/hil`.
    pub work_dir: Option<PathBuf>,
    /// Host radios.
    pub radios: Vec<Radio>,
    /// Boards.
    pub boards: Vec<BoardSpec>,
}

impl Rack {
    /// Reads and checks the inventory at `path`; relative paths in it are relative to its directory.
    pub fn load(path: &Path) -> Result<Self, InventoryErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            InventoryErrors(vec![InventoryError {
                file: path.to_owned(),
                item: None,
                field: String::new(),
                message: format!("cannot read it: {e}"),
            }])
        })?;
        raw::parse(path, &text)
    }

    /// Lock files: `/run/lock/provlab` where writable, else under `$XDG_RUNTIME_DIR` or the temp dir.
    pub fn default_lock_dir() -> PathBuf {
        let run = PathBuf::from("/run/lock/provlab");
        if std::fs::create_dir_all(&run).is_ok() && is_writable(&run) {
            return run;
        }
        match std::env::var_os("XDG_RUNTIME_DIR") {
            Some(d) => PathBuf::from(d).join("provlab-locks"),
            None => std::env::temp_dir().join("provlab-locks"),
        }
    }

    /// The radio named `name`.
    pub fn radio(&self, name: &str) -> Option<&Radio> {
        self.radios.iter().find(|r| r.name == name)
    }
}

fn is_writable(dir: &Path) -> bool {
    let probe = dir.join(format!(".probe-{}", std::process::id()));
    let ok = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(probe);
    ok
}
