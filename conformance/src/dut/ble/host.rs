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
//!
//! D-Bus connections: each embedded device and each of its client links get a bluer [`Session`] of their
//! own for their life ([`BleHost::session_lease`]), from a pool that grows to the number used at once
//! and is reused, never dropped (a dropped bluer session leaves its connection open: `loopback`).
//! One connection shared by everything at once fails now and then under load: dbus-tokio 0.7's
//! `IOResource` waker returns an error when a second task queues a message before the I/O task has run
//! after the first one's wake-up, and the call then fails with `org.freedesktop.DBus.Error.Failed:
//! Failed to send message` although the message goes out. A connection used by one party at a time
//! rarely has two senders at once.

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
    /// Sessions not lent at the moment ([`BleHost::session_lease`]).
    spare: Arc<Mutex<Vec<Session>>>,
}

/// A bluer session (one D-Bus connection, on the host's runtime) lent to one party; returned on drop.
pub struct SessionLease {
    spare: Arc<Mutex<Vec<Session>>>,
    session: Option<Session>,
}

impl SessionLease {
    /// The session.
    pub fn session(&self) -> &Session {
        self.session
            .as_ref()
            .expect("a session lease holds its session until dropped")
    }
}

impl Drop for SessionLease {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            self.spare.lock().unwrap_or_else(|e| e.into_inner()).push(s);
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
            spare: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// Lends a session of its own to one device or link: a spare one, else a new one.
    pub fn session_lease(&self) -> Result<SessionLease, String> {
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let session = match spare {
            Some(s) => s,
            // Made on the host's runtime, which runs its I/O task for as long as the process.
            None => self
                .rt
                .block_on(Session::new())
                .map_err(|e| format!("another D-Bus connection to BlueZ: {e}"))?,
        };
        Ok(SessionLease {
            spare: self.spare.clone(),
            session: Some(session),
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
