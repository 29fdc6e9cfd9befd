//! A board as the conformance suite's device under test, over one transport: the suite's own links
//! (HTTP to its SoftAP address, BLE by the name it printed, the console line protocol on its console,
//! shared with the log watcher), and the board as the suite's [`Custody`] between cases.

use std::sync::Arc;
use std::time::Duration;

use conformance::dut::ble::BleDut;
use conformance::dut::http::{HttpDut, Rejection};
use conformance::dut::line::LineLink;
use conformance::dut::{Boot, Custody, Dut};
use conformance::link::{Link, LinkError, Transport};
use prov_client::Profile;

use crate::board::Board;
use crate::console::ConsoleWriter;
use crate::inventory::Capability;

/// How long a console link waits for the prompt after poking the board.
const PROMPT_WAIT: Duration = Duration::from_secs(5);

/// One board over one transport.
pub struct BoardDut {
    board: Arc<Board>,
    over: Over,
}

enum Over {
    Http(HttpDut),
    Ble(BleDut),
    Console,
}

impl BoardDut {
    /// The board over `transport`; `ble_adapter` is the host radio's adapter for BLE.
    pub fn new(
        board: Arc<Board>,
        transport: Capability,
        profile: Profile,
        ble_adapter: Option<&str>,
    ) -> Result<Self, String> {
        let over = match transport {
            Capability::Softap => Over::Http(HttpDut::new(
                board.softap.to_string(),
                board.desc.reply_timeout(),
                Rejection::of(profile),
            )),
            Capability::Ble => {
                let name = board
                    .service_name()
                    .ok_or("the board never printed its service name")?;
                let mut desc = board.desc.clone();
                if let Some(a) = ble_adapter {
                    desc.ble.adapter = Some(a.to_owned());
                }
                Over::Ble(BleDut::new(name, &desc)?)
            }
            Capability::Console => Over::Console,
        };
        Ok(Self { board, over })
    }
}

impl Dut for BoardDut {
    fn label(&self) -> String {
        self.board.spec.id.clone()
    }

    fn transport(&self) -> Transport {
        match &self.over {
            Over::Http(d) => d.transport(),
            Over::Ble(d) => d.transport(),
            Over::Console => Transport::Serial,
        }
    }

    fn fresh_per_connect(&self) -> bool {
        false
    }

    fn parallelism(&self) -> usize {
        1
    }

    fn connect(&self, boot: &Boot) -> Result<Box<dyn Link>, LinkError> {
        match &self.over {
            Over::Http(d) => d.connect(boot),
            Over::Ble(d) => d.connect(boot),
            Over::Console => {
                let console = &self.board.console;
                let reader = console.tap().map_err(LinkError::Unreachable)?;
                // A running board shows no fresh prompt: poke it with an empty line.
                console
                    .write(b"\r")
                    .map_err(|e| LinkError::Unreachable(format!("console: {e}")))?;
                let mut opts = self.board.desc.line_options();
                opts.startup = opts.startup.min(PROMPT_WAIT);
                let link = LineLink::new(
                    Transport::Serial,
                    Box::new(reader),
                    Box::new(ConsoleWriter(Arc::clone(console))),
                    opts,
                    Box::new(()),
                )?;
                Ok(Box::new(link))
            }
        }
    }

    fn custody(&self) -> Option<&dyn Custody> {
        Some(self.board.as_ref())
    }
}
