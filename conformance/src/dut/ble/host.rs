//! The BLE side of this process: one `bluer` session for every client link (on its own small runtime,
//! so it outlives any caller's), the client's adapter, and the adapters the embedded simulator's
//! peripherals may advertise on.
//!
//! Each embedded device advertises on an adapter of its own, other than the client's, lent by a
//! [`Lease`] for its life; a device waits while all are lent. Sharing does not work: under real BlueZ
//! a remote device is named after the advertising adapter's address, and on any bus a peripheral learns
//! that a central connected from the central's `Device1` object on its adapter, which would be one
//! object for every device on that adapter. The loopback the suite starts has [`LOOPBACK_ADAPTERS`]
//! adapters: `hci0` for the client, the rest for devices.

use std::sync::{Arc, Condvar, Mutex, OnceLock};

use bluer::Session;
use tokio::runtime::{Handle, Runtime};

/// Adapters of the loopback the suite starts (`hci0` … `hci32`): enough for three columns of eight
/// parallel cases, and some to spare while withdrawn devices leave.
pub const LOOPBACK_ADAPTERS: usize = 33;

/// The process's BLE client side.
pub struct BleHost {
    rt: Runtime,
    session: Session,
    central: String,
    pool: Arc<Pool>,
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
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ble-client")
            .enable_all()
            .build()
            .map_err(|e| format!("BLE client runtime: {e}"))?;
        let (session, names) = rt
            .block_on(async {
                let session = Session::new().await?;
                let names = session.adapter_names().await?;
                Ok::<_, bluer::Error>((session, names))
            })
            .map_err(|e| {
                format!(
                    "cannot reach BlueZ on the system D-Bus ({e}); DBUS_SYSTEM_BUS_ADDRESS={}",
                    std::env::var("DBUS_SYSTEM_BUS_ADDRESS").unwrap_or_else(|_| "(unset)".into())
                )
            })?;
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
            rt,
            session,
            central,
            pool: Arc::new(Pool {
                adapters: Mutex::new(adapters),
                ready: Condvar::new(),
            }),
        })
    }

    /// The runtime the client's futures run on.
    pub fn handle(&self) -> Handle {
        self.rt.handle().clone()
    }

    /// The client's session.
    pub fn session(&self) -> &Session {
        &self.session
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
