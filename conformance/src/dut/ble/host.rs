//! The BLE side of this process: the client's adapter, the adapters the embedded simulator's
//! peripherals may advertise on, and the D-Bus connections to BlueZ ([`Bus`]).
//!
//! Each embedded device advertises on an adapter of its own, other than the client's, lent by a
//! [`Lease`] for its life; a device waits while all are lent. Sharing does not work: under real BlueZ
//! a remote device is named after the advertising adapter's address, and on any bus a peripheral learns
//! that a central connected from the central's `Device1` object on its adapter, which would be one
//! object for every device on that adapter. The loopback the suite starts has [`LOOPBACK_ADAPTERS`]
//! adapters: `hci0` for the client, the rest for devices.
//!
//! D-Bus connections: each embedded device and each of its client links get a [`Bus`] of their own
//! for their life ([`BleHost::bus_lease`]), from a pool that grows to the number used at once and is
//! reused, never dropped (a dropped bluer session leaves its connection open: `loopback`). A `Bus` is a
//! bluer [`Session`] on a single-threaded runtime of its own, and everything that uses the session runs
//! on that runtime's one thread, its I/O task included. The reason is a race in dbus-tokio 0.7: when a
//! message cannot be written at once (another thread holds libdbus's I/O path), the connection wakes
//! its I/O task, and if a second message is queued before that task has run, the waker reports an error
//! and the call fails with `org.freedesktop.DBus.Error.Failed: Failed to send message` although the
//! message goes out. On one thread the I/O path is never held by another, so nothing is left queued.

use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use bluer::Session;
use tokio::runtime::{Handle, Runtime};

/// Adapters of the loopback the suite starts (`hci0` … `hci32`): enough for three columns of eight
/// parallel cases, and some to spare while withdrawn devices leave.
pub const LOOPBACK_ADAPTERS: usize = 33;

/// One D-Bus connection to BlueZ (a bluer session) and the single-threaded runtime that runs it and
/// everything that uses it (module docs: why).
pub struct Bus {
    rt: Runtime,
    session: Session,
}

impl Bus {
    /// A new connection to BlueZ on the system bus (`DBUS_SYSTEM_BUS_ADDRESS`).
    pub fn open() -> Result<Self, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("BLE client runtime: {e}"))?;
        // Made on its runtime, so its I/O task is spawned there.
        let session = rt
            .block_on(Session::new())
            .map_err(|e| format!("a D-Bus connection to BlueZ: {e}"))?;
        Ok(Self { rt, session })
    }

    /// The session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Runs `fut` (and the connection's I/O) on the calling thread until it completes. One thread
    /// at a time per bus: whoever holds it ([`BusLease`], a link).
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        if Handle::try_current().is_ok() {
            // A runner inside a (multi-threaded) runtime: step aside first.
            tokio::task::block_in_place(|| self.rt.block_on(fut))
        } else {
            self.rt.block_on(fut)
        }
    }
}

/// The process's BLE client side.
pub struct BleHost {
    central: String,
    pool: Arc<Pool>,
    /// Buses not lent at the moment ([`BleHost::bus_lease`]).
    spare: Arc<Mutex<Vec<Arc<Bus>>>>,
}

/// A [`Bus`] lent to one party (a device or a link); returned on drop.
pub struct BusLease {
    spare: Arc<Mutex<Vec<Arc<Bus>>>>,
    bus: Option<Arc<Bus>>,
}

impl BusLease {
    /// The bus.
    pub fn bus(&self) -> &Arc<Bus> {
        self.bus
            .as_ref()
            .expect("a bus lease holds its bus until dropped")
    }
}

impl Drop for BusLease {
    fn drop(&mut self) {
        if let Some(b) = self.bus.take() {
            self.spare.lock().unwrap_or_else(|e| e.into_inner()).push(b);
        }
    }
}

struct Pool {
    /// Adapter name and whether a device uses it, in order of last use (least recently used first).
    adapters: Mutex<Vec<(String, bool)>>,
    ready: Condvar,
}

/// An adapter lent to one embedded device; returned on drop.
pub struct Lease {
    pool: Arc<Pool>,
    name: String,
}

impl Lease {
    /// The adapter's name (`hci3`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut adapters = self.pool.adapters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = adapters.iter().position(|a| a.0 == self.name) {
            let mut a = adapters.remove(i);
            a.1 = false;
            adapters.push(a);
        }
        self.pool.ready.notify_one();
    }
}

static HOST: OnceLock<Result<Arc<BleHost>, String>> = OnceLock::new();

impl BleHost {
    /// The process's host, opened on first use with `central` as the client's adapter (`None`: `hci0`
    /// if present, else the first). Later calls get the same host.
    pub fn get(central: Option<&str>) -> Result<Arc<Self>, String> {
        HOST.get_or_init(|| Self::open(central).map(Arc::new))
            .clone()
    }

    fn open(central: Option<&str>) -> Result<Self, String> {
        let unreachable = |e: String| {
            format!(
                "cannot reach BlueZ on the system D-Bus ({e}); DBUS_SYSTEM_BUS_ADDRESS={}",
                std::env::var("DBUS_SYSTEM_BUS_ADDRESS").unwrap_or_else(|_| "(unset)".into())
            )
        };
        let bus = Bus::open().map_err(unreachable)?;
        let names = bus
            .block_on(bus.session().adapter_names())
            .map_err(|e| unreachable(e.to_string()))?;
        let mut names = names;
        names.sort_by_key(|n| {
            let digits: String = n.chars().filter(char::is_ascii_digit).collect();
            (digits.parse::<u32>().unwrap_or(u32::MAX), n.clone())
        });
        let central = match central {
            Some(c) if names.iter().any(|n| n == c) => c.to_owned(),
            Some(c) => {
                return Err(format!(
                    "no Bluetooth adapter {c:?}; BlueZ has {}",
                    names.join(", ")
                ))
            }
            None if names.iter().any(|n| n == "hci0") => "hci0".into(),
            None => names
                .first()
                .cloned()
                .ok_or("BlueZ reports no Bluetooth adapter")?,
        };
        let adapters: Vec<(String, bool)> = names
            .into_iter()
            .filter(|n| *n != central)
            .map(|n| (n, false))
            .collect();
        Ok(Self {
            central,
            pool: Arc::new(Pool {
                adapters: Mutex::new(adapters),
                ready: Condvar::new(),
            }),
            // The first bus is the first to lend.
            spare: Arc::new(Mutex::new(vec![Arc::new(bus)])),
        })
    }

    /// Lends a bus of its own to one device or link: a spare one, else a new one.
    pub fn bus_lease(&self) -> Result<BusLease, String> {
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let bus = match spare {
            Some(b) => b,
            None => Arc::new(Bus::open()?),
        };
        Ok(BusLease {
            spare: self.spare.clone(),
            bus: Some(bus),
        })
    }

    /// The client's adapter.
    pub fn central(&self) -> &str {
        &self.central
    }

    /// Borrows an adapter for an embedded device (the one free longest), waiting while all are lent.
    pub fn lease(&self) -> Result<Lease, String> {
        let mut adapters = self.pool.adapters.lock().unwrap_or_else(|e| e.into_inner());
        if adapters.is_empty() {
            return Err(format!(
                "the embedded simulator needs a Bluetooth adapter besides the client's {}",
                self.central
            ));
        }
        loop {
            if let Some(a) = adapters.iter_mut().find(|a| !a.1) {
                a.1 = true;
                return Ok(Lease {
                    pool: self.pool.clone(),
                    name: a.0.clone(),
                });
            }
            adapters = self
                .pool
                .ready
                .wait(adapters)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}
