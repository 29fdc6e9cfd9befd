//! The console line protocol's client side (spec §4.3), on any byte stream: a program's stdin/stdout, a
//! serial port, or the embedded simulator's console.
//!
//! A request is one line `<endpoint> <session> <hex>` ended by CR (ESP-IDF reads CR only). The device
//! echoes the line, prints the reply as one hex line on success, and then its prompt (`\n>> `). A reply
//! line that is not hex, or a prompt with no reply line before it, is "no response".

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::link::{Access, LineAccess, Link, LinkError, Transport};
use crate::model::Answer;

/// How a line-protocol device frames its console.
#[derive(Clone, Debug)]
pub struct LineOptions {
    /// Words before the endpoint, e.g. `net_prov` for the Zephyr port's shell command (spec §4.3.2).
    pub prefix: Option<String>,
    /// The prompt that follows every reply (ESP-IDF: `>> `).
    pub prompt: String,
    /// Whether the device echoes the request line (ESP-IDF and Zephyr do).
    pub echo: bool,
    /// How long to wait for one reply.
    pub timeout: Duration,
    /// How long to wait for the first prompt after connecting (a program may build or boot first).
    pub startup: Duration,
}

impl Default for LineOptions {
    fn default() -> Self {
        Self {
            prefix: None,
            prompt: ">> ".into(),
            echo: true,
            timeout: Duration::from_secs(15),
            startup: Duration::from_secs(30),
        }
    }
}

/// A console or serial link. Holds whatever keeps the device alive (a child process, the embedded
/// simulator) and drops it with the link.
pub struct LineLink {
    transport: Transport,
    writer: Box<dyn Write + Send>,
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    session: u32,
    opts: LineOptions,
    /// Reset banners seen on the device's output since the reader started, and how many of them came
    /// before the link was up.
    banners: Arc<AtomicU64>,
    banners_at_start: u64,
    /// The device's output ended.
    ended: bool,
    _keep: Box<dyn Send>,
}

impl LineLink {
    /// A link over `reader`/`writer`; `keep` lives as long as the link. Waits for the first prompt.
    pub fn new(
        transport: Transport,
        reader: Box<dyn Read + Send>,
        writer: Box<dyn Write + Send>,
        opts: LineOptions,
        keep: Box<dyn Send>,
    ) -> Result<Self, LinkError> {
        let (tx, rx) = mpsc::channel();
        let banners = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&banners);
        std::thread::Builder::new()
            .name("console-reader".into())
            .spawn(move || pump(reader, tx, &counter))
            .map_err(|e| LinkError::Unreachable(format!("reader thread: {e}")))?;
        let mut link = Self {
            transport,
            writer,
            rx,
            buf: Vec::new(),
            session: next_session_id(),
            opts,
            banners,
            banners_at_start: 0,
            ended: false,
            _keep: keep,
        };
        link.wait_first_prompt()?;
        // A banner from before the link was up (a reset between cases) is not this link's business.
        link.banners_at_start = link.banners.load(Ordering::Relaxed);
        Ok(link)
    }

    /// The request line for `endpoint` with `body` in the current session.
    pub fn line_for(&self, endpoint: &str, body: &[u8]) -> String {
        let prefix = self
            .opts
            .prefix
            .as_deref()
            .map(|p| format!("{p} "))
            .unwrap_or_default();
        format!("{prefix}{endpoint} {} {}", self.session, hex::encode(body))
    }

    /// Discards output that arrived between requests.
    fn drain(&mut self) {
        while let Ok(chunk) = self.rx.try_recv() {
            self.buf.extend_from_slice(&chunk);
        }
        self.buf.clear();
    }

    fn wait_first_prompt(&mut self) -> Result<(), LinkError> {
        let deadline = Instant::now() + self.opts.startup;
        let prompt = self.opts.prompt.trim_end().as_bytes().to_vec();
        while Instant::now() < deadline {
            if self.buf.windows(prompt.len().max(1)).any(|w| w == prompt) {
                self.buf.clear();
                return Ok(());
            }
            match self
                .rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(chunk) => self.buf.extend_from_slice(&chunk),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(LinkError::Unreachable(format!(
                        "the device's output ended before its first prompt; it printed: {:?}",
                        String::from_utf8_lossy(&self.buf)
                    )))
                }
            }
        }
        Err(LinkError::Unreachable(format!(
            "no prompt {:?} within {:?}; the device printed: {:?}",
            self.opts.prompt,
            self.opts.startup,
            String::from_utf8_lossy(&self.buf)
        )))
    }

    /// Reads until the reply is decided. `command` is the line we sent (to recognise its echo).
    fn read_reply(&mut self, command: &str) -> Result<Answer, LinkError> {
        let deadline = Instant::now() + self.opts.timeout;
        let prompt = self.opts.prompt.trim_end().to_owned();
        let mut echo_done = !self.opts.echo;
        let mut echoed = 0usize;
        let mut answer: Option<Answer> = None;
        loop {
            // Complete lines first.
            while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                // ESP-IDF continues a multi-line log message on lines that start with a tab.
                let continued = line.first() == Some(&b'\t');
                let text = String::from_utf8_lossy(&line).trim().to_owned();
                let after_prompt = !prompt.is_empty() && text.starts_with(&prompt);
                let text = text.strip_prefix(&prompt).map_or(text.as_str(), str::trim);
                // A prompt after the echo ends the reply, even when a log line follows it on the
                // same line (a board logs whenever it likes).
                if after_prompt && echo_done {
                    return Ok(answer.unwrap_or_else(|| {
                        Answer::NoResponse("no reply line before the next prompt".into())
                    }));
                }
                if text.is_empty() || continued {
                    continue;
                }
                // The echo may come in pieces: a line longer than the device's buffer runs in parts,
                // each followed by a prompt. Only after the whole line came back can a reply follow.
                if !echo_done && command.contains(text) {
                    echoed += text.len();
                    echo_done = echoed >= command.trim().len();
                    continue;
                }
                if is_log_line(text) || answer.is_some() {
                    continue;
                }
                answer = Some(match hex::decode(text) {
                    Ok(bytes) => Answer::Data(bytes),
                    Err(_) => Answer::NoResponse(format!("reply line is not hex: {text:?}")),
                });
                echo_done = true;
            }
            // A prompt after the echo ends the reply.
            let tail = String::from_utf8_lossy(&self.buf).trim().to_owned();
            if echo_done && !prompt.is_empty() && tail.starts_with(&prompt) {
                self.buf.clear();
                return Ok(answer.unwrap_or_else(|| {
                    Answer::NoResponse("no reply line before the next prompt".into())
                }));
            }
            let now = Instant::now();
            if now >= deadline {
                // A console prompts after every command, failed or not: silence means a hung device,
                // not a rejection.
                return answer.ok_or_else(|| {
                    LinkError::Gone(format!(
                        "no reply and no prompt within {:?}: the device hangs",
                        self.opts.timeout
                    ))
                });
            }
            match self.rx.recv_timeout(deadline - now) {
                Ok(chunk) => self.buf.extend_from_slice(&chunk),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => {
                    self.ended = true;
                    return match answer {
                        Some(a) => Ok(a),
                        None => Err(LinkError::Gone("the device's output ended".into())),
                    };
                }
            }
        }
    }
}

/// A session id no other link of this run used: a device that keeps its state remembers the last
/// session id it saw, and only a different one opens a fresh session (spec §4.3.1). Ids start at a
/// random point so that two runs against the same device do not meet either.
fn next_session_id() -> u32 {
    static NEXT: std::sync::OnceLock<AtomicU64> = std::sync::OnceLock::new();
    let next = NEXT.get_or_init(|| {
        use rand_core::RngCore;
        AtomicU64::new(u64::from(rand_core::OsRng.next_u32() % 1_000_000))
    });
    // Console session ids are read like C `atoi` into a 32-bit long: stay well inside.
    (next.fetch_add(1, Ordering::Relaxed) % 2_000_000_000) as u32
}

/// ESP-IDF log lines (`I (1234) tag: …`) that a board may interleave with replies, and what the ROM
/// and the panic handler print when the chip resets.
/// Whether `text` (one line) is what ESP-IDF's log or ROM prints on the UART the console shares.
pub(crate) fn is_log_line(text: &str) -> bool {
    let b = text.as_bytes();
    (b.len() > 3
        && matches!(b[0], b'E' | b'W' | b'I' | b'D' | b'V')
        && b[1] == b' '
        && b[2] == b'(')
        || ["rst:0x", "ets ", "Rebooting...", "Guru Meditation"]
            .iter()
            .any(|p| text.starts_with(p))
}

/// The ESP32 ROM's reset line (`rst:0xc (SW_CPU_RESET),boot:…`): the chip rebooted.
const RESET_MARK: &[u8] = b"rst:0x";

fn pump(mut reader: Box<dyn Read + Send>, tx: mpsc::Sender<Vec<u8>>, banners: &AtomicU64) {
    let mut chunk = [0u8; 4096];
    // The end of the previous chunk, so a banner split across reads is still seen.
    let mut tail: Vec<u8> = Vec::new();
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                tail.extend_from_slice(&chunk[..n]);
                let seen = tail
                    .windows(RESET_MARK.len())
                    .filter(|w| *w == RESET_MARK)
                    .count();
                banners.fetch_add(seen as u64, Ordering::Relaxed);
                let keep = tail.len().min(RESET_MARK.len() - 1);
                tail.drain(..tail.len() - keep);
                if tx.send(chunk[..n].to_vec()).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // A serial port times out while idle: check that someone still listens, so a dropped
            // link releases the port.
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                if tx.send(Vec::new()).is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

impl Link for LineLink {
    fn transport(&self) -> Transport {
        self.transport
    }

    fn request(&mut self, endpoint: &str, body: &[u8]) -> Result<Answer, LinkError> {
        self.drain();
        let line = self.line_for(endpoint, body);
        self.writer.write_all(line.as_bytes())?;
        self.writer.write_all(b"\r")?;
        self.writer.flush()?;
        self.read_reply(&line)
    }

    fn new_session(&mut self) -> Result<(), LinkError> {
        self.session = next_session_id();
        Ok(())
    }

    fn session(&self) -> u32 {
        self.session
    }

    fn access(&mut self) -> Access<'_> {
        Access::Line(self)
    }

    fn crash_evidence(&mut self) -> Option<String> {
        let banners = self.banners.load(Ordering::Relaxed) - self.banners_at_start;
        if banners > 0 {
            return Some(format!(
                "the device printed the ROM reset banner (rst:0x…) {banners} time(s): it rebooted"
            ));
        }
        self.ended.then(|| {
            "the device's console output ended (the program exited or the port closed)".into()
        })
    }
}

impl LineAccess for LineLink {
    fn raw(&mut self, bytes: &[u8], quiet: Duration) -> Result<Vec<u8>, LinkError> {
        self.drain();
        self.writer.write_all(bytes)?;
        self.writer.flush()?;
        let prompt = self.opts.prompt.as_bytes().to_vec();
        let mut out: Vec<u8> = Vec::new();
        let deadline = Instant::now() + self.opts.timeout;
        let mut settled: Option<Instant> = None;
        loop {
            let done = out.len() >= bytes.len() && !prompt.is_empty() && out.ends_with(&prompt);
            if done && settled.is_none() {
                settled = Some(Instant::now() + quiet);
            }
            let until = settled.unwrap_or(deadline).min(deadline);
            let now = Instant::now();
            if now >= until {
                return Ok(out);
            }
            match self.rx.recv_timeout(until - now) {
                Ok(chunk) => {
                    out.extend_from_slice(&chunk);
                    settled = None;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A board that prints its prompt, and `reply` once a request was written.
    struct Scripted {
        prompt: Option<Vec<u8>>,
        reply: std::vec::IntoIter<Vec<u8>>,
        written: Receiver<()>,
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let next = match self.prompt.take() {
                Some(p) => Some(p),
                None if self.written.recv_timeout(Duration::from_millis(20)).is_ok() => {
                    Some(self.reply.by_ref().flatten().collect())
                }
                None => None,
            };
            match next {
                Some(c) => {
                    buf[..c.len()].copy_from_slice(&c);
                    Ok(c.len())
                }
                None => Err(std::io::ErrorKind::TimedOut.into()),
            }
        }
    }

    struct Signal(mpsc::Sender<()>);

    impl Write for Signal {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if buf.ends_with(b"\r") {
                let _ = self.0.send(());
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn link(reply: Vec<&str>) -> LineLink {
        let opts = LineOptions {
            timeout: Duration::from_secs(2),
            startup: Duration::from_secs(2),
            ..LineOptions::default()
        };
        let (tx, rx) = mpsc::channel();
        let reader = Scripted {
            prompt: Some(b"\n>> ".to_vec()),
            reply: reply
                .into_iter()
                .map(|c| c.as_bytes().to_vec())
                .collect::<Vec<_>>()
                .into_iter(),
            written: rx,
        };
        LineLink::new(
            Transport::Serial,
            Box::new(reader),
            Box::new(Signal(tx)),
            opts,
            Box::new(()),
        )
        .unwrap()
    }

    #[test]
    fn log_lines_around_a_reply_are_skipped_as_esp_idf_prints_them() {
        // A multi-line log message (tab-continued) before the reply, as the wifi_prov_mgr example
        // prints "Received Wi-Fi credentials".
        let mut l = link(vec![
            "prov-config 7 ab\r\n",
            "I (33063) app: Received Wi-Fi credentials\r\n\tSSID     : myssid\r\n",
            "\r\n4da2\r\n\n>> ",
        ]);
        l.session = 7;
        assert_eq!(
            l.request("prov-config", &[0xab]).unwrap(),
            Answer::Data(vec![0x4d, 0xa2])
        );
    }

    #[test]
    fn a_prompt_followed_by_a_log_line_still_ends_the_reply() {
        let mut l = link(vec![
            "prov-session 9 01\r\n",
            "\n>> E (20962) app: Received incorrect username and/or PoP!\r\n",
        ]);
        l.session = 9;
        let started = Instant::now();
        let a = l.request("prov-session", &[1]).unwrap();
        assert!(matches!(a, Answer::NoResponse(_)), "{a:?}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "it waited for a prompt it had seen"
        );
    }
}
