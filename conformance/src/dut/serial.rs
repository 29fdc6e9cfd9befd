//! `serial:<port>[@baud]`: a board's console UART, through the `serialport` crate. One link at a time;
//! the board keeps its state between cases (reset it with `hil` or by hand).

use std::time::Duration;

use super::line::{LineLink, LineOptions};
use super::Dut;
use crate::link::{Link, LinkError, Transport};

/// A board on a serial port.
pub struct SerialDut {
    port: String,
    baud: u32,
    opts: LineOptions,
}

impl SerialDut {
    /// A board at `port` running at `baud`.
    pub fn new(port: String, baud: u32, opts: LineOptions) -> Self {
        Self { port, baud, opts }
    }
}

impl Dut for SerialDut {
    fn label(&self) -> String {
        format!("serial:{}", self.port)
    }

    fn transport(&self) -> Transport {
        Transport::Serial
    }

    fn fresh_per_connect(&self) -> bool {
        false
    }

    fn parallelism(&self) -> usize {
        1
    }

    fn connect(&self, _boot: &super::Boot) -> Result<Box<dyn Link>, LinkError> {
        // The previous case's link releases the port within one read timeout.
        let mut tries = 0;
        let port = loop {
            match serialport::new(&self.port, self.baud)
                .timeout(Duration::from_millis(100))
                .open()
            {
                Ok(p) => break p,
                Err(e) if tries < 20 => {
                    tries += 1;
                    tracing::debug!(port = %self.port, error = %e, "serial port busy, retrying");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(LinkError::Unreachable(format!("{}: {e}", self.port))),
            }
        };
        let reader = port
            .try_clone()
            .map_err(|e| LinkError::Unreachable(format!("{}: {e}", self.port)))?;
        let mut opts = self.opts.clone();
        // A board already running shows no fresh prompt: poke it with an empty line.
        opts.startup = opts.startup.min(Duration::from_secs(5));
        let mut writer = port;
        let _ = std::io::Write::write_all(&mut writer, b"\r");
        let link = LineLink::new(
            Transport::Serial,
            Box::new(reader),
            Box::new(writer),
            opts,
            Box::new(()),
        )?;
        Ok(Box::new(link))
    }
}
