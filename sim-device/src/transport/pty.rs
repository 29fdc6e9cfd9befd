//! The console transport on a pseudo-terminal: the virtual ESP32's "UART", for serial tools (picocom,
//! minicom, screen, pyserial) and for esp_prov's console mode bridged to a serial port.
//!
//! [`spawn_console`] opens a pty pair with `posix_openpt`, puts the terminal in raw mode (`cfmakeraw`: no
//! echo, no CR/LF translation, no signals, no line editing, so every byte reaches
//! [`console::serve`] unchanged and the console does its own echo, as on a chip),
//! and serves the console protocol in a tokio task. Two OS threads move bytes between the master side
//! (blocking reads and writes) and the task, through an in-memory duplex pipe: tokio's only readiness API
//! for a raw descriptor (`AsyncFd::register`) is `unsafe`, which this workspace forbids. Clients open the
//! returned slave path (`/dev/pts/N`); the baud rate they set is ignored.
//!
//! Clients come and go: the input thread keeps one descriptor of the slave open for the life of the
//! process, so the master never reads EOF or EIO when a client closes the port, and the console keeps its
//! state (line buffer, last session id) across reconnects, like a chip whose USB-serial cable is
//! re-plugged. Output written while no client has the port open stays queued in the terminal (the console
//! only writes in answer to input, so this is at most the tail of the last exchange), and the next client
//! reads it first, as from a real UART's FIFO. Most serial tools set raw mode themselves and restore their
//! saved settings on exit; that changes what they send, never what the console sees.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use nix::pty::PtyMaster;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::runtime::Handle;

use crate::runtime::DeviceHandle;
use crate::transport::console::{self, ConsoleOptions};

/// Bytes in flight between the terminal threads and the console task, each way.
const PIPE: usize = 4096;

/// Open a pseudo-terminal, serve the console protocol on it in a task, and return the path serial tools
/// open (`/dev/pts/N`). Must be called within a tokio runtime (an error otherwise).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn spawn_console(handle: DeviceHandle, opts: ConsoleOptions) -> io::Result<PathBuf> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;

    use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
    use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
    use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};

    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY)?;
    fcntl(master.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let path = PathBuf::from(ptsname_r(&master)?);

    // The slave descriptor we keep: raw mode is a property of the terminal, so clients inherit it.
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(OFlag::O_NOCTTY.bits())
        .open(&path)?;
    let mut termios = tcgetattr(&slave)?;
    cfmakeraw(&mut termios);
    tcsetattr(&slave, SetArg::TCSANOW, &termios)?;

    let runtime = Handle::try_current().map_err(io::Error::other)?;
    let (ours, theirs) = tokio::io::duplex(PIPE);
    let (input, output) = tokio::io::split(theirs);
    let (from_console, to_console) = tokio::io::split(ours);
    let master = Arc::new(master);
    spawn_thread("pty-in", {
        let (master, runtime) = (Arc::clone(&master), runtime.clone());
        move || pump_in(&master, slave, to_console, &runtime)
    })?;
    spawn_thread("pty-out", move || pump_out(&master, from_console, &runtime))?;
    tokio::spawn(async move {
        match console::serve_with(handle, input, output, opts).await {
            Ok(()) => tracing::info!("pty console ended"),
            Err(e) => tracing::error!(error = %e, "pty console stopped"),
        }
    });
    Ok(path)
}

/// Pseudo-terminals through `posix_openpt` and `ptsname_r` are only wired up for Linux.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn spawn_console(_handle: DeviceHandle, _opts: ConsoleOptions) -> io::Result<PathBuf> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "--console-pty needs Linux; use the stdin/stdout console",
    ))
}

/// A named OS thread. Threads, not blocking tasks: a read blocked on the terminal must not hold up the
/// runtime's shutdown.
fn spawn_thread(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map(drop)
}

/// Terminal → console. Holds `slave` open for as long as it runs, so the master never reads EIO when
/// clients close the port. Ends when the console task has gone.
fn pump_in(
    master: &PtyMaster,
    slave: std::fs::File,
    mut to_console: tokio::io::WriteHalf<DuplexStream>,
    runtime: &Handle,
) {
    let _slave = slave;
    let mut buf = [0u8; 1024];
    loop {
        let mut reader = master;
        let n = match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::error!(error = %e, "pty read failed");
                return;
            }
        };
        let chunk = buf.get(..n).unwrap_or_default();
        if runtime.block_on(to_console.write_all(chunk)).is_err() {
            return;
        }
    }
}

/// Console → terminal. Ends when the console task has gone.
fn pump_out(
    master: &PtyMaster,
    mut from_console: tokio::io::ReadHalf<DuplexStream>,
    runtime: &Handle,
) {
    let mut buf = [0u8; 1024];
    loop {
        let n = match runtime.block_on(from_console.read(&mut buf)) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut writer = master;
        if let Err(e) = writer.write_all(buf.get(..n).unwrap_or_default()) {
            tracing::error!(error = %e, "pty write failed");
            return;
        }
    }
}
