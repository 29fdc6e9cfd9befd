//! A private dbus-daemon plus the loopback on its own thread.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{service, Error, Options};

const BUS_CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <!-- placeholder: the command line address wins, but dbus-daemon wants a listen element -->
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
  <!-- a test bus: many short-lived BLE devices and links (the system-bus default is 256 per user) -->
  <limit name="max_connections_per_user">100000</limit>
  <limit name="max_completed_connections">100000</limit>
  <limit name="max_match_rules_per_connection">100000</limit>
  <limit name="max_replies_per_connection">100000</limit>
</busconfig>
"#;

/// A private system bus with the loopback serving `org.bluez` on it.
///
/// Dropping it stops the loopback, kills the daemon and removes its temp dir.
pub struct Testbed {
    address: String,
    dir: PathBuf,
    daemon: Child,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Testbed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Testbed")
            .field("address", &self.address)
            .field("dir", &self.dir)
            .finish()
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

fn make_temp_dir() -> Result<PathBuf, Error> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "bluez-loopback-{}-{n}-{nanos:x}",
            std::process::id()
        ));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io(format!("creating {}", dir.display()))(e)),
        }
    }
    Err(Error::Daemon("could not create a unique temp dir".into()))
}

impl Testbed {
    /// Starts a private dbus-daemon and the loopback; returns once `org.bluez` is owned.
    pub fn start(opts: Options) -> Result<Self, Error> {
        opts.validate()?;
        let dir = make_temp_dir()?;
        match Self::start_in(&dir, opts) {
            Ok(tb) => Ok(tb),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    fn start_in(dir: &Path, opts: Options) -> Result<Self, Error> {
        let conf = dir.join("system-bus.conf");
        std::fs::write(&conf, BUS_CONFIG).map_err(io("writing the bus config"))?;
        let address = format!("unix:path={}", dir.join("bus").display());
        let mut daemon = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf.display()))
            .arg(format!("--address={address}"))
            .arg("--nofork")
            .arg("--print-address=1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Error::DbusDaemonMissing
                } else {
                    io("spawning dbus-daemon")(e)
                }
            })?;
        // The daemon prints its address once it listens.
        let mut line = String::new();
        let stdout = daemon.stdout.take().expect("piped stdout");
        let read = BufReader::new(stdout).read_line(&mut line);
        if read.is_err() || line.trim().is_empty() {
            let _ = daemon.kill();
            let mut err = String::new();
            if let Some(mut s) = daemon.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut s, &mut err);
            }
            let _ = daemon.wait();
            return Err(Error::Daemon(format!(
                "no address printed; stderr: {}",
                err.trim()
            )));
        }
        // Drain stderr (the harmless fd-limit warning) so the daemon never blocks on it.
        if let Some(mut s) = daemon.stderr.take() {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s, &mut std::io::sink());
            });
        }

        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let addr = address.clone();
        let thread = std::thread::Builder::new()
            .name("bluez-loopback".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(io("building the tokio runtime")(e)));
                        return;
                    }
                };
                let res = rt.block_on(service::run(&addr, opts, Some(ready_tx.clone()), async {
                    let _ = stop_rx.await;
                }));
                if let Err(e) = res {
                    // Either a start-up error (reported to start()) or a lost connection.
                    if ready_tx.send(Err(e)).is_err() {
                        tracing::debug!("loopback ended");
                    }
                }
            });
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                let _ = daemon.kill();
                let _ = daemon.wait();
                return Err(io("spawning the loopback thread")(e));
            }
        };
        let mut tb = Self {
            address,
            dir: dir.to_path_buf(),
            daemon,
            stop: Some(stop_tx),
            thread: Some(thread),
        };
        match ready_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(())) => Ok(tb),
            Ok(Err(e)) => {
                tb.shutdown();
                Err(e)
            }
            Err(_) => {
                tb.shutdown();
                Err(Error::Stopped(
                    "the loopback did not get ready within 20 s".into(),
                ))
            }
        }
    }

    /// The bus address, for children's `DBUS_SYSTEM_BUS_ADDRESS`.
    pub fn bus_address(&self) -> &str {
        &self.address
    }

    /// The dbus-daemon's process id: tests stop and continue it (`SIGSTOP`/`SIGCONT`) to play a
    /// bus that falls behind on a loaded machine.
    pub fn daemon_pid(&self) -> u32 {
        self.daemon.id()
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        self.shutdown();
        // The temp dir is ours (make_temp_dir), never a user's directory.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
