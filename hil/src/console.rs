//! A board's console, watched for the whole run: one reader thread keeps every line with its time
//! (the whole log, for the reports), recognises what matters (the readiness line, a panic, the ROM's
//! `rst:0x…` line that starts every boot), and hands the raw bytes to whoever speaks the console line
//! protocol on the same UART ([`Console::tap`]).
//!
//! Reboots: each `rst:` line is a boot. One the HIL caused (it said so with [`Console::expect_reset`])
//! is not counted; any other is a reboot the board did on its own (a panic, a watchdog), and the panic
//! line before it, if any, says why. A console whose device fails or ends is *gone*: that is how an
//! unplugged board (or a vanished pseudo-terminal) shows.

use std::io::{self, Read, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use conformance::dut::Reboots;

use crate::backend::ConsolePort;

/// Lines that say the firmware panicked (ESP-IDF's panic handler, asserts, watchdogs, heap checks).
const PANIC_MARKS: [&str; 6] = [
    "Guru Meditation Error",
    "abort() was called",
    "assert failed",
    "Task watchdog got triggered",
    "***ERROR*** A stack overflow",
    "CORRUPT HEAP",
];

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Time since the console was first opened.
    pub at: Duration,
    /// The text, colour codes and line ends removed.
    pub text: String,
}

#[derive(Default)]
struct State {
    lines: Vec<Line>,
    partial: Vec<u8>,
    reboots: Reboots,
    pending_panic: Option<String>,
    expected_resets: u32,
    taps: Vec<Sender<Vec<u8>>>,
    writer: Option<Box<dyn Write + Send>>,
    /// Bumped to stop the current reader (closing on purpose is not "gone").
    generation: u64,
}

/// A watched console.
pub struct Console {
    port: Box<dyn ConsolePort>,
    started: Instant,
    state: Mutex<State>,
    changed: Condvar,
}

impl Console {
    /// Opens the console and starts watching it.
    pub fn open(port: Box<dyn ConsolePort>) -> Result<Arc<Self>, String> {
        let console = Arc::new(Self {
            port,
            started: Instant::now(),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        console.reopen()?;
        Ok(console)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What the console is.
    pub fn describe(&self) -> String {
        self.port.describe()
    }

    /// Opens the device again (after [`Console::close`], or after it was gone and came back).
    pub fn reopen(self: &Arc<Self>) -> Result<(), String> {
        let (reader, writer) = self.port.open()?;
        let generation = {
            let mut s = self.lock();
            s.generation += 1;
            s.writer = Some(writer);
            s.reboots.gone = None;
            s.generation
        };
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("console".into())
            .spawn(move || me.read_loop(reader, generation))
            .map_err(|e| format!("console thread: {e}"))?;
        Ok(())
    }

    /// Lets go of the device (espflash needs the port); nothing is lost, the log goes on after
    /// [`Console::reopen`].
    pub fn close(&self) {
        let mut s = self.lock();
        s.generation += 1;
        s.writer = None;
        s.taps.clear();
    }

    fn read_loop(&self, mut reader: Box<dyn Read + Send>, generation: u64) {
        let mut buf = [0u8; 4096];
        loop {
            let got = reader.read(&mut buf);
            let mut s = self.lock();
            if s.generation != generation {
                return;
            }
            match got {
                Ok(0) => {
                    return self.gone(&mut s, "the console device reported end of file".into())
                }
                Ok(n) => self.take(&mut s, &buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                            | io::ErrorKind::WouldBlock
                    ) => {}
                Err(e) => return self.gone(&mut s, format!("reading the console failed: {e}")),
            }
        }
    }

    fn gone(&self, s: &mut State, why: String) {
        self.push(s, format!("--- hil: console gone: {why} ---"));
        s.reboots.gone = Some(why);
        s.writer = None;
        s.taps.clear();
        self.changed.notify_all();
    }

    /// New bytes: to the taps, then into lines.
    fn take(&self, s: &mut State, bytes: &[u8]) {
        s.taps.retain(|t| t.send(bytes.to_vec()).is_ok());
        for &b in bytes {
            if b == b'\n' {
                let raw = std::mem::take(&mut s.partial);
                self.line(s, clean(&raw));
            } else {
                s.partial.push(b);
            }
        }
        self.changed.notify_all();
    }

    fn line(&self, s: &mut State, text: String) {
        if text.is_empty() {
            return;
        }
        if PANIC_MARKS.iter().any(|m| text.contains(m)) {
            s.pending_panic = Some(text.clone());
        }
        if text.contains("rst:0x") {
            if s.expected_resets > 0 {
                s.expected_resets -= 1;
                s.pending_panic = None;
            } else {
                s.reboots.count += 1;
                s.reboots.last = Some(s.pending_panic.take().unwrap_or_else(|| text.clone()));
            }
        }
        self.push(s, text);
    }

    fn push(&self, s: &mut State, text: String) {
        s.lines.push(Line {
            at: self.started.elapsed(),
            text: redact_password(text),
        });
    }

    /// Writes a marker line into the log (what the HIL did, for whoever reads it later).
    pub fn note(&self, text: &str) {
        let mut s = self.lock();
        self.push(&mut s, format!("--- hil: {text} ---"));
    }

    /// The next reset line is one the HIL caused.
    pub fn expect_reset(&self) {
        self.lock().expected_resets += 1;
    }

    /// Forgets resets the HIL expected but the board never showed (a reset that failed).
    pub fn clear_expected(&self) {
        self.lock().expected_resets = 0;
    }

    /// Reboots the board did on its own so far, and whether the console is gone.
    pub fn reboots(&self) -> Reboots {
        self.lock().reboots.clone()
    }

    /// The number of lines so far: a mark to wait or read from.
    pub fn mark(&self) -> usize {
        self.lock().lines.len()
    }

    /// Waits until a line after `from` gives `Some` through `pick`, or `timeout`; a console that goes
    /// away ends the wait at once.
    pub fn wait_for<T>(
        &self,
        from: usize,
        timeout: Duration,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + timeout;
        let mut seen = from;
        let mut s = self.lock();
        loop {
            while let Some(line) = s.lines.get(seen) {
                seen += 1;
                if let Some(t) = pick(&line.text) {
                    return Ok(t);
                }
            }
            if let Some(why) = &s.reboots.gone {
                return Err(format!("the console went away: {why}"));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("not within {:.1} s", timeout.as_secs_f64()));
            }
            s = self
                .changed
                .wait_timeout(s, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// The log from line `from` on, one `[seconds] text` line each.
    pub fn log_since(&self, from: usize) -> String {
        let s = self.lock();
        let mut out = String::new();
        for l in s.lines.iter().skip(from) {
            out.push_str(&format!("[{:>9.3}] {}\n", l.at.as_secs_f64(), l.text));
        }
        out
    }

    /// A reader of the raw bytes from now on, for a link that speaks the console line protocol.
    pub fn tap(&self) -> Result<TapReader, String> {
        let mut s = self.lock();
        if let Some(why) = &s.reboots.gone {
            return Err(format!("the console is gone: {why}"));
        }
        let (tx, rx) = mpsc::channel();
        s.taps.push(tx);
        Ok(TapReader {
            rx,
            pending: Vec::new(),
        })
    }

    /// Writes to the board.
    pub fn write(&self, bytes: &[u8]) -> io::Result<()> {
        let mut s = self.lock();
        let w = s.writer.as_mut().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotConnected, "the console is not open")
        })?;
        w.write_all(bytes)?;
        w.flush()
    }
}

/// Text of a raw line: ANSI colour codes (ESP-IDF's `CONFIG_LOG_COLORS`) and CRs removed.
fn clean(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out.trim_end().to_owned()
}

/// The raw console bytes, as a `Read` that times out while idle (as a serial port does).
pub struct TapReader {
    rx: Receiver<Vec<u8>>,
    pending: Vec<u8>,
}

impl Read for TapReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pending.is_empty() {
            match self.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(chunk) => self.pending = chunk,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "idle"))
                }
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

/// Writes into a [`Console`].
pub struct ConsoleWriter(pub Arc<Console>);

impl Write for ConsoleWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map(|()| buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The service name in a readiness line (`… Provisioning started with service name : PROV_261FCC `).
pub fn service_name(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("Provisioning started with service name : ")?;
    rest.split_whitespace().next().map(str::to_owned)
}

/// ESP-IDF's provisioning examples log the received credentials (`\tPassword : <passphrase>` under
/// "Received Wi-Fi credentials"); the stored log, the JUnit `system-out` and the reports keep the line
/// but not the passphrase.
fn redact_password(text: String) -> String {
    let t = text.trim_start();
    let Some(rest) = t.strip_prefix("Password") else {
        return text;
    };
    if !rest.trim_start().starts_with(':') {
        return text;
    }
    let indent = &text[..text.len() - t.len()];
    format!("{indent}Password : <redacted>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_examples_password_line_is_redacted() {
        assert_eq!(
            redact_password("\tPassword : mypassword".into()),
            "\tPassword : <redacted>"
        );
        assert_eq!(
            redact_password("Password: x y".into()),
            "Password : <redacted>"
        );
        for kept in [
            "\tSSID     : myssid",
            "Passwords are long",
            "I (1) app: Password stored",
        ] {
            assert_eq!(redact_password(kept.into()), kept);
        }
    }

    /// A console fed from a channel, as a pipe would.
    struct Fed(Mutex<Option<Receiver<Vec<u8>>>>);

    struct ChanReader(Receiver<Vec<u8>>);
    impl Read for ChanReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.recv_timeout(Duration::from_millis(50)) {
                Ok(c) => {
                    buf[..c.len()].copy_from_slice(&c);
                    Ok(c.len())
                }
                Err(RecvTimeoutError::Timeout) => Err(io::ErrorKind::TimedOut.into()),
                Err(RecvTimeoutError::Disconnected) => Ok(0),
            }
        }
    }

    impl ConsolePort for Fed {
        fn describe(&self) -> String {
            "fed".into()
        }
        fn open(&self) -> Result<(Box<dyn Read + Send>, Box<dyn Write + Send>), String> {
            let rx = self.0.lock().unwrap().take().ok_or("already open")?;
            Ok((Box::new(ChanReader(rx)), Box::new(io::sink())))
        }
    }

    #[test]
    fn watches_readiness_panics_and_resets() {
        let (tx, rx) = mpsc::channel();
        let c = Console::open(Box::new(Fed(Mutex::new(Some(rx))))).unwrap();
        let from = c.mark();
        c.expect_reset();
        tx.send(b"\r\nESP-ROM:esp32c3-api1-20210207\r\nrst:0x1 (POWERON),boot:0xc\r\n".to_vec())
            .unwrap();
        tx.send(
            b"\x1b[0;32mI (1045) wifi_prov_mgr: Provisioning started with service name : PROV_0011"
                .to_vec(),
        )
        .unwrap();
        tx.send(b"22 \x1b[0m\r\n".to_vec()).unwrap();
        let name = c
            .wait_for(from, Duration::from_secs(2), service_name)
            .unwrap();
        assert_eq!(name, "PROV_001122");
        assert_eq!(
            c.reboots().count,
            0,
            "the reset the HIL asked for is not a reboot"
        );
        tx.send(b"Guru Meditation Error: Core  0 panic'ed (LoadProhibited).\r\nRebooting...\r\nets Jun  8 2016\r\nrst:0xc (SW_CPU_RESET)\r\n".to_vec()).unwrap();
        c.wait_for(from, Duration::from_secs(2), |l| {
            l.contains("SW_CPU_RESET").then_some(())
        })
        .unwrap();
        let r = c.reboots();
        assert_eq!(r.count, 1);
        assert!(r.last.unwrap().starts_with("Guru Meditation Error"));
        assert!(
            c.log_since(from).contains("] I (1045) wifi_prov_mgr"),
            "{}",
            c.log_since(from)
        );
        drop(tx);
        let err = c
            .wait_for(c.mark(), Duration::from_secs(2), |_| None::<()>)
            .unwrap_err();
        assert!(err.contains("went away"), "{err}");
        assert!(c.reboots().gone.is_some());
        assert!(c.tap().is_err());
    }

    #[test]
    fn readiness_line_names_the_service() {
        assert_eq!(
            service_name("I (1) x: Provisioning started with service name : PROV_ABC "),
            Some("PROV_ABC".into())
        );
        assert_eq!(service_name("I (1) app: Provisioning started"), None);
        assert_eq!(clean(b"\x1b[0;31mE (5) x: y\x1b[0m\r"), "E (5) x: y");
    }
}
