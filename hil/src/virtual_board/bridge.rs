//! A virtual board's USB-UART bridge: a pseudo-terminal whose host side (`/dev/pts/N`) the HIL opens
//! like any board's console, and whose chip side this bridge owns. It outlives the chip's application
//! (a reset does not unplug a UART bridge) and can be unplugged (the `console-vanishes` fault).
//!
//! One thread owns the master side: it waits in `poll(2)` for bytes from the host (handed to the
//! running application's stdin, dropped while nothing runs, as a halted chip's UART drops them) and
//! for room to write what the chip sends (the ROM, the bootloader, the application's stdout). The
//! bridge also keeps a descriptor of the host side open, so the master never sees a hang-up when the
//! console is closed and reopened.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::process::ChildStdin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt, PtyMaster};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};

/// Where host bytes go: the running application's stdin, if any.
pub type Input = Arc<Mutex<Option<ChildStdin>>>;

/// The bridge.
pub struct Bridge {
    path: PathBuf,
    tx: Sender<Vec<u8>>,
    input: Input,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Bridge {
    /// Plugs in a new bridge.
    pub fn open() -> io::Result<Self> {
        let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY)?;
        fcntl(master.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
        fcntl(master.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        grantpt(&master)?;
        unlockpt(&master)?;
        let path = PathBuf::from(ptsname_r(&master)?);
        let host_side = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags_noctty()
            .open(&path)?;
        // Raw, as a UART: no echo, no CR/LF translation, no line editing.
        let mut t = tcgetattr(&host_side)?;
        cfmakeraw(&mut t);
        tcsetattr(&host_side, SetArg::TCSANOW, &t)?;
        let (tx, rx) = mpsc::channel();
        let input: Input = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("uart-bridge".into())
            .spawn({
                let (input, stop) = (Arc::clone(&input), Arc::clone(&stop));
                move || pump(&master, host_side, &rx, &input, &stop)
            })?;
        Ok(Self {
            path,
            tx,
            input,
            stop,
            thread: Some(thread),
        })
    }

    /// The host side's path (`/dev/pts/N`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether it is still plugged in.
    pub fn plugged(&self) -> bool {
        self.thread.is_some()
    }

    /// Bytes from the chip to the host.
    pub fn send(&self, bytes: impl Into<Vec<u8>>) {
        let _ = self.tx.send(bytes.into());
    }

    /// A sender of chip-to-host bytes (for the application's stdout thread).
    pub fn sender(&self) -> Sender<Vec<u8>> {
        self.tx.clone()
    }

    /// Where host bytes go from now on.
    pub fn attach(&self, stdin: Option<ChildStdin>) {
        *self.input.lock().unwrap_or_else(|p| p.into_inner()) = stdin;
    }

    /// Pulls the cable: the host side's readers see it fail, and its path disappears.
    pub fn unplug(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.attach(None);
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.unplug();
    }
}

trait NoCtty {
    fn custom_flags_noctty(&mut self) -> &mut Self;
}

impl NoCtty for std::fs::OpenOptions {
    fn custom_flags_noctty(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(OFlag::O_NOCTTY.bits())
    }
}

/// The master side's one thread: until `stop`, host bytes to `input`, `rx` bytes to the host.
fn pump(
    master: &PtyMaster,
    host_side: File,
    rx: &Receiver<Vec<u8>>,
    input: &Input,
    stop: &AtomicBool,
) {
    let _keep = host_side;
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        while let Ok(chunk) = rx.try_recv() {
            pending.extend_from_slice(&chunk);
        }
        let mut events = PollFlags::POLLIN;
        if !pending.is_empty() {
            events |= PollFlags::POLLOUT;
        }
        let mut fds = [PollFd::new(master.as_fd(), events)];
        if poll(&mut fds, PollTimeout::from(20u8)).is_err() {
            continue;
        }
        let ready = fds[0].revents().unwrap_or(PollFlags::empty());
        if ready.contains(PollFlags::POLLIN) {
            let mut reader = master;
            if let Ok(n) = reader.read(&mut buf) {
                let mut guard = input.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(stdin) = guard.as_mut() {
                    if stdin
                        .write_all(&buf[..n])
                        .and_then(|()| stdin.flush())
                        .is_err()
                    {
                        *guard = None;
                    }
                }
            }
        }
        if ready.contains(PollFlags::POLLOUT) && !pending.is_empty() {
            let mut writer = master;
            match writer.write(&pending) {
                Ok(n) => {
                    pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => pending.clear(),
            }
        }
    }
}
