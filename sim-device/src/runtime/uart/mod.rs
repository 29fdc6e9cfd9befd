//! What an ESP32's UART shows, for rigs and people that watch a board's console (`sim-device
//! --uart-log`): the app's ESP-IDF log lines from boot to the readiness line that Espressif's own CI
//! waits for (`wifi_prov_mgr: Provisioning started with service name : PROV_…`), the example's event
//! lines, and on every reboot what the chip prints (a panic, `Rebooting...`, the ROM's reset banner).
//!
//! - [`rom`]: the ROM's reset banner per chip and reset reason (one definition; the console transport and
//!   the `hil` crate's virtual boards print it too);
//! - [`Uart`]: one writer for everything the UART carries, so a log line never lands inside a console
//!   reply; [`UartWriter`] is the console transport's side of it;
//! - [`log`]: the task that turns the device's status and event history into log lines.
//!
//! No secret is printed: the example prints the received passphrase, this prints the SSID only.

pub mod rom;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use self::rom::{Chip, ResetReason};
use crate::runtime::{ControlOp, DeviceHandle};

/// How long log lines wait for the console to finish a line it started (a client that typed half a
/// line and stopped must not silence the log).
const HOLD: Duration = Duration::from_millis(500);

/// Who wrote a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Log,
    Console,
}

/// The UART's transmit side: chunks are written whole and in order by one task, and a log line never
/// lands inside a console line (an echo arrives in pieces; a reader takes the UART a line at a time).
#[derive(Clone, Debug)]
pub struct Uart {
    tx: mpsc::UnboundedSender<(Source, Vec<u8>)>,
}

impl Uart {
    /// Starts the writer task on `out` (stdout, a pty); must run within a tokio runtime.
    pub fn spawn<W: AsyncWrite + Unpin + Send + 'static>(out: W) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_out(rx, out));
        Self { tx }
    }

    /// Sends log bytes (whole lines).
    pub fn send(&self, bytes: impl Into<Vec<u8>>) {
        let _ = self.tx.send((Source::Log, bytes.into()));
    }

    /// An `AsyncWrite` into this UART, for the console transport.
    pub fn writer(&self) -> UartWriter {
        UartWriter {
            tx: self.tx.clone(),
        }
    }
}

/// The writer task: log chunks that arrive while the console is in the middle of a line wait for
/// the line's end (or the prompt), or [`HOLD`].
async fn write_out<W: AsyncWrite + Unpin>(
    mut rx: mpsc::UnboundedReceiver<(Source, Vec<u8>)>,
    mut out: W,
) {
    let mut held: Vec<u8> = Vec::new();
    let mut mid_line = false;
    let mut held_until = tokio::time::Instant::now();
    loop {
        let next = if held.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout_at(held_until, rx.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    mid_line = false;
                    Some((Source::Log, Vec::new()))
                }
            }
        };
        let Some((from, chunk)) = next else {
            // Nothing more will come: what was held goes out.
            let _ = out.write_all(&held).await;
            let _ = out.flush().await;
            return;
        };
        let mut write = Vec::new();
        match from {
            Source::Log if mid_line => {
                if held.is_empty() {
                    held_until = tokio::time::Instant::now() + HOLD;
                }
                held.extend_from_slice(&chunk);
            }
            Source::Log => {
                write.append(&mut held);
                write.extend_from_slice(&chunk);
            }
            Source::Console => {
                write.extend_from_slice(&chunk);
                if !chunk.is_empty() {
                    mid_line = !(chunk.ends_with(b"\n") || chunk.ends_with(PROMPT_END));
                }
                if !mid_line {
                    write.append(&mut held);
                }
            }
        }
        if !write.is_empty() && (out.write_all(&write).await.is_err() || out.flush().await.is_err())
        {
            return;
        }
    }
}

/// How the console's prompt ends: after it the UART is at a line boundary for log lines.
const PROMPT_END: &[u8] = b">> ";

/// The console transport's output into a [`Uart`].
#[derive(Debug)]
pub struct UartWriter {
    tx: mpsc::UnboundedSender<(Source, Vec<u8>)>,
}

impl AsyncWrite for UartWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(match self.tx.send((Source::Console, buf.to_vec())) {
            Ok(()) => Ok(buf.len()),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "UART writer ended",
            )),
        })
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// What the log needs to know about the firmware.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// The service name (the readiness line carries it).
    pub service_name: String,
    /// Whose ROM banner to print on a reboot.
    pub chip: Chip,
}

/// How often the history is read when nothing else wakes the task.
const POLL: Duration = Duration::from_millis(50);

/// Prints the device's log on `uart` until the device task ends. Call it once the transport serves:
/// the readiness line tells a rig that clients can connect.
pub async fn log(handle: DeviceHandle, uart: Uart, cfg: LogConfig) {
    let mut status = handle.status();
    let mut printer = Printer {
        uart,
        cfg,
        boot: 0,
        since_boot: Instant::now(),
        crashed: false,
    };
    printer.boot_lines(status.borrow().provisioned && !status.borrow().serving);
    let mut since = 0;
    loop {
        let Ok(Value::Array(records)) = handle.control(ControlOp::Events { since }).await else {
            return;
        };
        for r in &records {
            since = since.max(r["seq"].as_u64().unwrap_or(since));
            printer.record(r);
        }
        let (boot, provisioned_idle) = {
            let s = status.borrow();
            (s.boot, s.provisioned && !s.serving)
        };
        if boot > printer.boot {
            printer.reboot(boot, provisioned_idle);
        }
        tokio::select! {
            changed = status.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Turns records into lines, remembering which boot it printed last.
struct Printer {
    uart: Uart,
    cfg: LogConfig,
    boot: u64,
    since_boot: Instant,
    /// The last record of this boot was a crash: the reboot follows a panic.
    crashed: bool,
}

impl Printer {
    /// One ESP-IDF log line, `L (ms) tag: text`, ms since this boot.
    fn line(&self, level: char, tag: &str, text: &str) {
        let ms = self.since_boot.elapsed().as_millis();
        self.uart
            .send(format!("{level} ({ms}) {tag}: {text}\r\n").into_bytes());
    }

    /// What the app prints from start to its provisioning decision.
    fn boot_lines(&self, provisioned: bool) {
        self.line('I', "cpu_start", "Starting scheduler on PRO CPU.");
        if provisioned {
            self.line('I', "app", "Already provisioned, starting Wi-Fi STA");
        } else {
            self.line('I', "app", "Starting provisioning");
        }
    }

    fn reboot(&mut self, boot: u64, provisioned: bool) {
        if !self.crashed {
            self.uart.send(b"Rebooting...\r\n".to_vec());
        }
        self.crashed = false;
        self.boot = boot;
        self.since_boot = Instant::now();
        self.uart
            .send(rom::banner(self.cfg.chip, ResetReason::SoftwareCpu).into_bytes());
        self.boot_lines(provisioned);
    }

    fn record(&mut self, r: &Value) {
        let boot = r["boot"].as_u64().unwrap_or(self.boot);
        if boot > self.boot {
            self.reboot(boot, false);
        }
        let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
        match r["event"].as_str().unwrap_or_default() {
            "WIFI_PROV_START" => {
                self.line('I', "app", "Provisioning started");
                let name = &self.cfg.service_name;
                self.line(
                    'I',
                    "wifi_prov_mgr",
                    &format!("Provisioning started with service name : {name} "),
                );
            }
            "WIFI_PROV_CRED_RECV" => self.line(
                'I',
                "app",
                &format!("Received Wi-Fi credentials\r\n\tSSID     : {}", s("ssid")),
            ),
            "WIFI_PROV_CRED_FAIL" => {
                let why = match s("reason").as_str() {
                    "auth_error" => "Wi-Fi station authentication failed",
                    _ => "Wi-Fi access-point not found",
                };
                self.line(
                    'E',
                    "app",
                    &format!("Provisioning failed!\r\n\tReason : {why}\r\n\tPlease reset to factory and retry provisioning"),
                );
            }
            "WIFI_PROV_CRED_SUCCESS" => self.line('I', "app", "Provisioning successful"),
            "WIFI_PROV_END" => self.line('I', "wifi_prov_mgr", "Provisioning stopped"),
            "IP_EVENT_STA_GOT_IP" => self.line(
                'I',
                "app",
                &format!("Connected with IP Address:{}", s("ip")),
            ),
            "WIFI_EVENT_STA_DISCONNECTED" => {
                self.line('I', "app", "Disconnected. Connecting to the AP again...");
            }
            "PROTOCOMM_SECURITY_SESSION_SETUP_OK" => {
                self.line('I', "app", "Secured session established!");
            }
            "PROTOCOMM_SECURITY_SESSION_INVALID_SECURITY_PARAMS" => self.line(
                'E',
                "app",
                "Received invalid security parameters for establishing secure session!",
            ),
            "PROTOCOMM_SECURITY_SESSION_CREDENTIALS_MISMATCH" => self.line(
                'E',
                "app",
                "Received incorrect username and/or PoP for establishing secure session!",
            ),
            "CRASH" => {
                self.uart.send(rom::panic_lines(self.cfg.chip).into_bytes());
                self.crashed = true;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    /// What reaches the wire when the log and the console write in the given order.
    async fn wire(steps: &[(Source, &str)]) -> String {
        let (near, mut far) = tokio::io::duplex(4096);
        let uart = Uart::spawn(near);
        let mut console = uart.writer();
        for (from, text) in steps {
            match from {
                Source::Log => uart.send(text.as_bytes()),
                Source::Console => console.write_all(text.as_bytes()).await.unwrap(),
            }
        }
        drop((uart, console));
        let mut got = String::new();
        far.read_to_string(&mut got).await.unwrap();
        got
    }

    #[tokio::test]
    async fn a_log_line_waits_for_the_console_line_it_would_split() {
        let got = wire(&[
            (Source::Console, "prov-config 81"),
            (Source::Log, "I (413) app: hello\r\n"),
            (Source::Console, "83\r\n"),
            (Source::Console, "0a0b\r\n\n>> "),
        ])
        .await;
        assert_eq!(
            got,
            "prov-config 8183\r\nI (413) app: hello\r\n0a0b\r\n\n>> "
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_half_typed_line_does_not_silence_the_log() {
        let (near, mut far) = tokio::io::duplex(4096);
        let uart = Uart::spawn(near);
        let mut console = uart.writer();
        console.write_all(b">> prov-").await.unwrap();
        uart.send(b"I (1) app: later\r\n".as_slice());
        let mut got = vec![0u8; 64];
        let mut n = far.read(&mut got).await.unwrap();
        assert_eq!(
            &got[..n],
            b">> prov-",
            "the log waits while the line is open"
        );
        tokio::time::sleep(HOLD * 2).await;
        n = far.read(&mut got).await.unwrap();
        assert_eq!(&got[..n], b"I (1) app: later\r\n");
    }
}
