//! The console transport: ESP-IDF's `protocomm_console` line protocol (spec §4.3.1), on any byte stream
//! (stdin/stdout, or a pseudo-terminal through [`super::pty`]).
//!
//! What a serial client sees, as on a chip:
//! - the prompt `\n>> ` (4 bytes) at start and after every line;
//! - every received byte echoed; CR (0x0D) is echoed as `\r\n` and ends the line;
//! - a line is `<endpoint> <session-id> <hex>`, split as `esp_console_split_argv` does (spaces separate,
//!   `"` quotes, `\` escapes `\`, `"` and space); each endpoint is a command, and `help` lists them;
//! - `<session-id>` is read like C `atoi` (newlib, 32-bit `long`: leading digits, saturating, else 0); when
//!   it differs from the previous request's id (or on the first request after boot) the transport opens a
//!   new security session with it, which closes the previous one;
//! - `<hex>` is read in pairs; an odd trailing digit is ignored;
//! - success prints `\r\n` + the reply in lowercase hex + `\r\n`; any failure (fewer than 3 arguments,
//!   unknown endpoint, protocomm error, reboot under the request) prints nothing but the next prompt and is
//!   logged on stderr. Logs never carry payload bytes: they may hold secrets.
//!
//! The 256-byte line buffer (`LINE_BUF_SIZE`) behaves as ESP-IDF's: the buffer counts every byte including
//! the CR; when 256 bytes arrive without a CR the line runs anyway, and `esp_console_run()` copies only
//! its first 255 bytes (`strlcpy` into a 256-byte buffer), so the 256th byte is echoed but unused. Bytes
//! after that start the next line. A NUL byte ends the command text (`strlcpy` stops there). A line is
//! 255 usable characters, which is why Security 2 (768 hex digits for `A`) cannot run over this transport.
//!
//! Deliberate deviations from ESP-IDF, each where ESP-IDF's result is undefined or plainly unusable:
//! - LF is not a terminator, but it is read as a space (ESP-IDF leaves it inside an argument). It still
//!   takes a byte of the line buffer. So CRLF-terminated input works: the LF simply leads the next line.
//! - An invalid hex digit fails the request before anything reaches the device (no session is opened);
//!   ESP-IDF's `sscanf("%2hhx")` leaves such bytes as uninitialised heap memory and sends them.
//! - The CR is not part of the last argument. ESP-IDF keeps it there, so for an odd-length payload the
//!   lone final digit becomes a byte (`"abc\r"` → `ab 0c`); here it is ignored (`ab`), as the spec says.
//! - Before the first request the "last session id" is unset rather than `PROTOCOMM_NO_SESSION_ID`
//!   (`u32::MAX`), so id `-1` opens a session too (as in the golden-vector replay harness).
//! - `help` prints just the endpoint names, one per line (ESP-IDF's argtable layout has empty help texts
//!   and lists `help` itself).
//! - When the provisioning service stops, ESP-IDF ends the console task and the UART goes quiet; here the
//!   prompt and echo go on and every request fails, until a reboot brings the service (and endpoints) back.
//!   A reboot also forgets the last session id, as the chip's static variable would be reset.
//!
//! A reboot (a crash, a reboot or factory reset through the control channel) prints what an ESP32's UART
//! shows, the ROM's reset banner (`rst:0xc (SW_CPU_RESET),…`), then a new prompt: a serial client can
//! tell that the device rebooted. [`ConsoleOptions::line_buf`] lifts the 256-byte limit for hosts and
//! stacks whose console takes longer lines.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub mod line;

use self::line::{Line, Parsed};
use crate::runtime::uart::rom::{self, Chip, ResetReason};
use crate::runtime::{DeviceHandle, RequestError};
use crate::SessionId;

/// The prompt `protocomm_console` writes before every line.
pub const PROMPT: &[u8] = b"\n>> ";

/// `LINE_BUF_SIZE` of `protocomm_console.c`: bytes per line, the terminating CR included.
pub const LINE_BUF_SIZE: usize = 256;

/// How the console frames lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsoleOptions {
    /// Bytes per line, the terminating CR included: ESP-IDF's [`LINE_BUF_SIZE`], or larger for a host
    /// build or another stack (`usize::MAX`: no limit).
    pub line_buf: usize,
    /// Whose ROM reset banner to print on a reboot; `None` when something else prints what the UART
    /// shows on a reboot (the UART log, [`crate::runtime::uart`]).
    pub reset_banner: Option<Chip>,
}

impl Default for ConsoleOptions {
    fn default() -> Self {
        Self {
            line_buf: LINE_BUF_SIZE,
            reset_banner: Some(Chip::Esp32),
        }
    }
}

/// Serve the console line protocol on `input`/`output` as ESP-IDF frames it, until `input` ends (then
/// `Ok`). Fails on an I/O error, or when the device task has ended.
pub async fn serve<R, W>(handle: DeviceHandle, input: R, output: W) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    serve_with(handle, input, output, ConsoleOptions::default()).await
}

/// [`serve`] with other framing.
pub async fn serve_with<R, W>(
    handle: DeviceHandle,
    mut input: R,
    mut output: W,
    opts: ConsoleOptions,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let line_buf = opts.line_buf.max(2);
    let mut status = handle.status();
    let mut boot = status.borrow_and_update().boot;
    let mut watching = true;
    let mut console = Console {
        handle,
        last_session: None,
        line_buf,
    };
    output.write_all(PROMPT).await?;
    output.flush().await?;
    let mut line: Vec<u8> = Vec::with_capacity(line_buf.min(4096));
    let mut chunk = [0u8; 512];
    loop {
        let n = tokio::select! {
            n = input.read(&mut chunk) => n?,
            changed = status.changed(), if watching => {
                if changed.is_err() {
                    watching = false;
                    continue;
                }
                let now = status.borrow_and_update().boot;
                if now != boot {
                    boot = now;
                    // The chip reset: the UART shows the ROM banner and the console starts over.
                    line.clear();
                    if let Some(chip) = opts.reset_banner {
                        output.write_all(rom::banner(chip, ResetReason::SoftwareCpu).as_bytes()).await?;
                    }
                    output.write_all(PROMPT).await?;
                    output.flush().await?;
                }
                continue;
            }
        };
        if n == 0 {
            return Ok(());
        }
        let mut out = Vec::new();
        for &b in chunk.iter().take(n) {
            if b == b'\r' {
                out.extend_from_slice(b"\r\n");
            } else {
                out.push(b);
            }
            line.push(b);
            if b != b'\r' && line.len() < line_buf {
                continue;
            }
            // The echo reaches the wire before the command runs, as on the chip.
            output.write_all(&out).await?;
            output.flush().await?;
            out.clear();
            console.run(&line, &mut out).await?;
            out.extend_from_slice(PROMPT);
            line.clear();
        }
        output.write_all(&out).await?;
        output.flush().await?;
    }
}

/// The transport's state: `protocomm_console`'s `session_id` static, per boot.
struct Console {
    handle: DeviceHandle,
    /// `(boot, session id)` of the last request that reached the device.
    last_session: Option<(u64, SessionId)>,
    /// Bytes per line, the CR included.
    line_buf: usize,
}

impl Console {
    /// `esp_console_run()` on one received line (terminating CR included); output goes to `out`.
    async fn run(&mut self, line: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let (command, parsed) = match line::parse(line, self.line_buf) {
            Line::Empty => return Ok(()),
            Line::Command { name, parsed } => (name, parsed),
        };
        let (boot, endpoints) = {
            let status = self.handle.status();
            let s = status.borrow();
            (s.boot, s.endpoints.clone())
        };
        if command.as_slice() == b"help" {
            for e in &endpoints {
                out.extend_from_slice(e.name.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            return Ok(());
        }
        let Some(endpoint) = endpoints
            .iter()
            .find(|e| e.name.as_bytes() == command.as_slice())
            .map(|e| e.name.as_str())
        else {
            // Not the text: a mistyped line may start with payload hex (with Security 0, plaintext).
            tracing::debug!(len = command.len(), "console: unknown command (see `help`)");
            return Ok(());
        };
        let (session, body) = match parsed {
            Parsed::TooFewArgs(args) => {
                tracing::debug!(%endpoint, args, "console: fewer than 3 arguments");
                return Ok(());
            }
            Parsed::NotHex(session) => {
                tracing::warn!(%endpoint, session, "console: payload is not hex; request dropped");
                return Ok(());
            }
            Parsed::Request { session, body } => (session, body),
        };
        if self.last_session != Some((boot, session)) {
            self.handle.open_session(boot, session).await;
            self.last_session = Some((boot, session));
        }
        let len = body.len();
        match self.handle.request(boot, endpoint, session, body).await {
            Ok(reply) => {
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(hex::encode(reply).as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Err(RequestError::Rejected(e)) => {
                tracing::warn!(%endpoint, session, len, error = %e, "console: request failed");
            }
            Err(RequestError::Rebooted) => {
                tracing::debug!(%endpoint, session, "console: device rebooted under the request");
            }
            Err(RequestError::Gone) => return Err(io::Error::other("device task ended")),
        }
        Ok(())
    }
}
