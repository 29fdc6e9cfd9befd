//! A link: one client's connection to a device under test, over one transport.
//!
//! Every transport reduces to `request(endpoint, bytes)` → [`Answer`]: a response body, or "no response"
//! (what ESP-IDF calls a transport error, spec §4.4: a closed HTTP connection, an HTTP 500 on Zephyr, a
//! console line with no hex reply). A [`LinkError`] is different: the link itself is broken (connection
//! refused, the program exited, the port vanished), and the case cannot go on.
//!
//! Cases that test a transport itself ask the link for a capability ([`Link::access`]): raw HTTP, raw
//! console lines, the GATT table. Time passes through the link too ([`Link::pause`]): a device on
//! virtual time (the embedded simulator replaying a recording, the in-memory device) jumps, a real one
//! is waited for.
//!
//! [`Recorder`] wraps a link and keeps the transcript the reports show for failing cases.

mod access;

use std::time::{Duration, Instant};

pub use access::{Access, GattAccess, GattChar, HttpAccess, LineAccess, RawResponse};

use crate::model::{Answer, Exchange};

/// The transport a link speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// SoftAP scheme: HTTP POST `/<endpoint>` with the session cookie (spec §4.1).
    Http,
    /// `protocomm_console` line protocol over a process's stdin/stdout (spec §4.3).
    Console,
    /// The console line protocol over a serial port (a board's UART).
    Serial,
    /// BLE GATT: write-with-response to the endpoint's characteristic, then read it (spec §4.2).
    Ble,
    /// No transport: requests go straight to the embedded simulator's device, in this process, on
    /// virtual time. An empty body is refused as every real transport refuses it.
    Memory,
}

impl Transport {
    /// Name used on command lines and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Console => "console",
            Self::Serial => "serial",
            Self::Ble => "ble",
            Self::Memory => "memory",
        }
    }

    /// Every transport, in help order.
    pub const ALL: [Self; 5] = [
        Self::Http,
        Self::Console,
        Self::Serial,
        Self::Ble,
        Self::Memory,
    ];

    /// Whether requests carry the console line protocol (console or serial).
    pub fn is_line_protocol(self) -> bool {
        matches!(self, Self::Console | Self::Serial)
    }
}

impl std::str::FromStr for Transport {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            // The SoftAP scheme's name, as esp_prov calls it.
            "softap" => Ok(Self::Http),
            _ => Self::ALL
                .into_iter()
                .find(|t| t.name() == s)
                .ok_or_else(|| {
                    format!(
                        "unknown transport {s:?}; expected http, console, serial, ble or memory"
                    )
                }),
        }
    }
}

/// The link itself failed; the case stops here.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Could not reach the device (connection refused, port absent, program did not start).
    #[error("cannot reach the device: {0}")]
    Unreachable(String),
    /// The device went away during the case (program exited, port closed).
    #[error("the device went away: {0}")]
    Gone(String),
    /// An I/O error on an established link.
    #[error("link I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The device answered in a way its profile does not allow for anything, e.g. HTTP 500 from an
    /// ESP-IDF device, whose httpd closes the connection when protocomm rejects a request (spec §4.4).
    #[error("{0}")]
    Deviation(String),
}

/// One client's connection to a device.
pub trait Link: Send {
    /// The transport.
    fn transport(&self) -> Transport;

    /// Sends `body` to `endpoint` in the current transport session and waits for the answer.
    fn request(&mut self, endpoint: &str, body: &[u8]) -> Result<Answer, LinkError>;

    /// Starts a new transport session: HTTP drops the cookie and the connection, the console moves to
    /// the next session id, BLE disconnects and connects again. The device then treats the next
    /// request as a new client (spec §3.1).
    fn new_session(&mut self) -> Result<(), LinkError>;

    /// Number of the current transport session (for transcripts).
    fn session(&self) -> u32;

    /// What the link offers beyond requests, for the cases that test its transport.
    fn access(&mut self) -> Access<'_> {
        Access::None
    }

    /// Lets `d` of the device's time pass: a sleep, unless the device runs on virtual time, where the
    /// clock jumps (every device timer due in between fires, in order).
    fn pause(&mut self, d: Duration) -> Result<(), LinkError> {
        std::thread::sleep(d);
        Ok(())
    }

    /// Whether the device runs on virtual time (then only [`Link::pause`] moves its clock).
    fn virtual_time(&self) -> bool {
        false
    }

    /// Evidence, if the link saw any, that the device crashed while the link was open: the ROM's reset
    /// banner on a console (an ESP32 reboots after a panic), the simulator's boot count, a console whose
    /// output ended (the program exited, the port closed).
    fn crash_evidence(&mut self) -> Option<String> {
        None
    }
}

/// A link that records every exchange.
pub struct Recorder {
    link: Box<dyn Link>,
    started: Instant,
    transcript: Vec<Exchange>,
    secrets: Vec<Vec<u8>>,
}

impl Recorder {
    /// Wraps `link`; times in the transcript count from now.
    pub fn new(link: Box<dyn Link>) -> Self {
        Self {
            link,
            started: Instant::now(),
            transcript: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// Masks `secret` (e.g. a Wi-Fi passphrase from the device file) wherever it appears in recorded
    /// requests, so reports never carry it. Strings shorter than 4 bytes are not masked (too common).
    pub fn redact(&mut self, secret: &[u8]) {
        if secret.len() >= 4 && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_vec());
        }
    }

    /// An answer with every secret masked (a Security 0 echo, or a board's log line on a console).
    fn masked_answer(&self, answer: &Answer) -> Answer {
        match answer {
            Answer::Data(d) => Answer::Data(self.masked(d)),
            Answer::NoResponse(why) => Answer::NoResponse(self.masked_note(why)),
        }
    }

    /// A note with every secret masked (golden scenarios' notes quote their SetConfig).
    fn masked_note(&self, note: &str) -> String {
        String::from_utf8_lossy(&self.masked(note.as_bytes())).into_owned()
    }

    fn masked(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        for s in &self.secrets {
            let mut i = 0;
            while i + s.len() <= out.len() {
                if out[i..i + s.len()] == s[..] {
                    out[i..i + s.len()].fill(b'*');
                    i += s.len();
                } else {
                    i += 1;
                }
            }
        }
        out
    }

    /// The wrapped link's transport.
    pub fn transport(&self) -> Transport {
        self.link.transport()
    }

    /// Sends a request and records it; `plain` is the plaintext when `body` is its encryption.
    pub fn request(
        &mut self,
        endpoint: &str,
        body: &[u8],
        plain: Option<&[u8]>,
        note: &str,
    ) -> Result<Answer, LinkError> {
        let at_ms = self.elapsed_ms();
        let session = self.link.session();
        let result = self.link.request(endpoint, body);
        let answer = match &result {
            Ok(a) => a.clone(),
            Err(e) => Answer::NoResponse(format!("link failure: {e}")),
        };
        self.transcript.push(Exchange {
            at_ms,
            session,
            endpoint: endpoint.to_owned(),
            request: self.masked(body),
            request_plain: plain.map(|p| self.masked(p)),
            answer: self.masked_answer(&answer),
            answer_plain: None,
            note: self.masked_note(note),
        });
        result
    }

    /// Attaches the decrypted response to the last exchange.
    pub fn set_answer_plain(&mut self, plain: &[u8]) {
        let plain = self.masked(plain);
        if let Some(last) = self.transcript.last_mut() {
            last.answer_plain = Some(plain);
        }
    }

    /// Adds a note to the transcript without a request (e.g. "waited 1500 ms").
    pub fn note(&mut self, note: impl Into<String>) {
        let note = self.masked_note(&note.into());
        let at_ms = self.elapsed_ms();
        self.transcript.push(Exchange {
            at_ms,
            session: self.link.session(),
            endpoint: "-".into(),
            request: Vec::new(),
            request_plain: None,
            answer: Answer::NoResponse("(note)".into()),
            answer_plain: None,
            note,
        });
    }

    /// Records an exchange made outside [`Recorder::request`] (e.g. a raw HTTP request).
    pub fn record(&mut self, endpoint: &str, request: &[u8], answer: Answer, note: &str) {
        let at_ms = self.elapsed_ms();
        self.transcript.push(Exchange {
            at_ms,
            session: self.link.session(),
            endpoint: endpoint.to_owned(),
            request: self.masked(request),
            request_plain: None,
            answer: self.masked_answer(&answer),
            answer_plain: None,
            note: self.masked_note(note),
        });
    }

    /// Lets `d` of the device's time pass ([`Link::pause`]), noting why in the transcript.
    pub fn pause(&mut self, d: Duration, why: &str) -> Result<(), LinkError> {
        self.note(format!("wait {} ms: {why}", d.as_millis()));
        self.link.pause(d)
    }

    /// Starts a new transport session.
    pub fn new_session(&mut self) -> Result<(), LinkError> {
        self.link.new_session()?;
        self.note(format!("new transport session {}", self.link.session()));
        Ok(())
    }

    /// The wrapped link.
    pub fn link(&mut self) -> &mut dyn Link {
        self.link.as_mut()
    }

    /// The transcript so far.
    pub fn into_transcript(self) -> Vec<Exchange> {
        self.transcript
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    impl Link for Echo {
        fn transport(&self) -> Transport {
            Transport::Console
        }
        fn request(&mut self, _: &str, body: &[u8]) -> Result<Answer, LinkError> {
            Ok(Answer::Data(body.to_vec()))
        }
        fn new_session(&mut self) -> Result<(), LinkError> {
            Ok(())
        }
        fn session(&self) -> u32 {
            0
        }
    }

    #[test]
    fn passphrases_are_masked_in_the_transcript() {
        let mut rec = Recorder::new(Box::new(Echo));
        rec.redact(b"mypassword");
        let sent = b"\x12\x06myssid\x1a\x0amypassword";
        let answer = rec
            .request("prov-config", sent, Some(sent), "SetConfig")
            .unwrap();
        // What goes to the device is untouched; only the record is masked.
        assert_eq!(answer, Answer::Data(sent.to_vec()));
        let x = &rec.into_transcript()[0];
        assert_eq!(x.request, b"\x12\x06myssid\x1a\x0a**********");
        assert_eq!(x.request_plain.as_deref(), Some(&x.request[..]));
    }

    #[test]
    fn notes_and_decrypted_answers_are_masked_too() {
        let mut rec = Recorder::new(Box::new(Echo));
        rec.redact(b"office-pass-1234");
        rec.request(
            "prov-config",
            b"x",
            None,
            "CmdSetConfig ssid='Office' passphrase='office-pass-1234'",
        )
        .unwrap();
        rec.set_answer_plain(b"echo office-pass-1234");
        rec.note("sent office-pass-1234 again");
        let t = rec.into_transcript();
        assert_eq!(
            t[0].note,
            "CmdSetConfig ssid='Office' passphrase='****************'"
        );
        assert_eq!(
            t[0].answer_plain.as_deref(),
            Some(&b"echo ****************"[..])
        );
        assert_eq!(t[1].note, "sent **************** again");
    }
}
