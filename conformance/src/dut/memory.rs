//! The embedded simulator with no transport at all: a [`Board`] in this process, on virtual time. A
//! request is one call into the device; [`Link::pause`] moves the device's clock, so a case that waits
//! out a 30 s auto-stop takes microseconds. This is the sans-IO core as a conformance target: the
//! self-check, the golden replay and the tests run here; the HTTP, console and BLE columns keep their
//! real transports.
//!
//! Session semantics are the console's (spec §4.3): every request names its session, a new id opens a
//! new transport session, and after a reboot (a crash) the session is opened again, fresh. An empty
//! body never reaches the device: every real transport refuses one (spec §4.1–§4.3).

use std::time::Duration;

use sim_device::runtime::{Board, ControlOp, Outcome, RequestError, SessionRef};

use crate::link::{Link, LinkError, Transport};
use crate::model::Answer;

/// A link straight into a board.
pub struct MemoryLink {
    board: Board,
    session: u32,
    /// The boot under which `session` was opened.
    opened_in: Option<u64>,
}

impl MemoryLink {
    /// A link to `board` (which must run on virtual time for [`Link::pause`] to jump).
    pub fn new(board: Board) -> Self {
        Self {
            board,
            session: 0,
            opened_in: None,
        }
    }

    /// Opens the link's session in the current boot if it is not open there yet (first request, new
    /// session, or after a reboot).
    fn ensure_session(&mut self) {
        let boot = self.board.boot_count();
        if self.opened_in != Some(boot) {
            self.board.open_session(self.session);
            self.opened_in = Some(boot);
        }
    }
}

impl Link for MemoryLink {
    fn transport(&self) -> Transport {
        Transport::Memory
    }

    fn request(&mut self, endpoint: &str, body: &[u8]) -> Result<Answer, LinkError> {
        if body.is_empty() {
            return Ok(Answer::NoResponse(
                "empty body: every transport refuses one before protocomm (spec §4)".into(),
            ));
        }
        self.ensure_session();
        let (_, outcome) = self
            .board
            .request(endpoint, SessionRef::Open(self.session), body);
        Ok(match outcome {
            Outcome::Ready(d) => Answer::Data(d),
            Outcome::Failed(RequestError::Rejected(e)) => {
                Answer::NoResponse(format!("{} ({})", e.err.name(), e.why))
            }
            Outcome::Failed(RequestError::Rebooted) => {
                Answer::NoResponse("the device rebooted under the request (crashed)".into())
            }
            Outcome::Failed(RequestError::Gone) => {
                return Err(LinkError::Gone("the simulated device is gone".into()))
            }
            Outcome::Deferred => Answer::NoResponse(
                "no reply: the device waits in the handler for something that never comes".into(),
            ),
        })
    }

    fn new_session(&mut self) -> Result<(), LinkError> {
        self.session += 1;
        self.opened_in = None;
        Ok(())
    }

    fn session(&self) -> u32 {
        self.session
    }

    fn pause(&mut self, d: Duration) -> Result<(), LinkError> {
        self.board
            .control(ControlOp::Advance(d))
            .map(drop)
            .map_err(LinkError::Gone)
    }

    fn virtual_time(&self) -> bool {
        true
    }
}
