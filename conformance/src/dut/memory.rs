//! The embedded simulator with no transport at all: a [`Board`] in this process, on virtual time. A
//! request is one call into the device; [`Link::pause`] moves the device's clock, so a case that waits
//! out a 30 s auto-stop takes microseconds. This is the sans-IO core as a conformance target: the
//! self-check, the golden replay and the tests run here; the HTTP, console and BLE columns keep their
//! real transports.
//!
//! Session semantics are the console's (spec §4.3): every request names its session, a new id opens a
//! new transport session, and after a reboot (a crash) the session is opened again, fresh. An empty
//! body never reaches the device: every real transport refuses one (spec §4.1–§4.3).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sim_device::runtime::{Board, ControlOp, Outcome, RequestError, SessionRef};

use crate::link::{Link, LinkError, Transport};
use crate::model::Answer;

/// A link straight into a board.
pub struct MemoryLink {
    board: Arc<Mutex<Board>>,
    session: u32,
    /// The boot under which `session` was opened.
    opened_in: Option<u64>,
    /// The boot count when the link was opened.
    first_boot: u64,
}

impl MemoryLink {
    /// A link to `board` (which must run on virtual time for [`Link::pause`] to jump).
    pub fn new(board: Board) -> Self {
        Self::shared(Arc::new(Mutex::new(board)))
    }

    /// A link to a board someone else can look at too (a test that checks the state a case left).
    pub fn shared(board: Arc<Mutex<Board>>) -> Self {
        let first_boot = board.lock().map_or(0, |b| b.boot_count());
        Self {
            board,
            session: 0,
            opened_in: None,
            first_boot,
        }
    }

    fn board(&self) -> MutexGuard<'_, Board> {
        // A poisoned lock only means a test thread panicked; the board is still usable.
        self.board.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens the link's session in the current boot if it is not open there yet (first request, new
    /// session, or after a reboot).
    fn ensure_session(&mut self) {
        let session = self.session;
        let mut board = self.board();
        let boot = board.boot_count();
        if self.opened_in != Some(boot) {
            board.open_session(session);
            drop(board);
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
        let session = SessionRef::Open(self.session);
        let (_, outcome) = self.board().request(endpoint, session, body);
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
        self.board()
            .control(ControlOp::Advance(d))
            .map(drop)
            .map_err(LinkError::Gone)
    }

    fn virtual_time(&self) -> bool {
        true
    }

    fn crash_evidence(&mut self) -> Option<String> {
        let boots = self.board().boot_count() - self.first_boot;
        (boots > 0).then(|| format!("the simulator rebooted {boots} time(s)"))
    }
}
