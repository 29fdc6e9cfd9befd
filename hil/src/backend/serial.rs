//! A console on a serial device through the `serialport` crate (default features off: no libudev),
//! opened by path: a board's `/dev/serial/by-id/…`, or a virtual board's pseudo-terminal.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use super::ConsolePort;

/// How long a read waits before reporting "idle" (the console's reader then checks for a stop).
const READ_TIMEOUT: Duration = Duration::from_millis(100);

/// A serial console.
#[derive(Clone, Debug)]
pub struct SerialConsole {
    /// The device path.
    pub path: PathBuf,
    /// Baud rate (ignored by USB-Serial-JTAG and pseudo-terminals).
    pub baud: u32,
    /// Hold DTR and RTS released after opening: on a UART bridge with the auto-reset circuit they
    /// drive EN and GPIO0, and opening the port may assert them.
    pub release_lines: bool,
}

impl ConsolePort for SerialConsole {
    fn describe(&self) -> String {
        format!("{} at {} baud", self.path.display(), self.baud)
    }

    fn open(&self) -> Result<(Box<dyn Read + Send>, Box<dyn Write + Send>), String> {
        let path = self.path.to_string_lossy();
        let mut port = serialport::new(path.as_ref(), self.baud)
            .timeout(READ_TIMEOUT)
            .open()
            .map_err(|e| match e.kind {
                serialport::ErrorKind::NoDevice => format!("{path}: no such device (unplugged?)"),
                serialport::ErrorKind::Io(std::io::ErrorKind::PermissionDenied) => format!(
                    "{path}: permission denied (add the user to the dialout group or install the udev rules in hil/README.md)"
                ),
                _ => format!("{path}: {e}"),
            })?;
        if self.release_lines {
            port.write_data_terminal_ready(false)
                .and_then(|()| port.write_request_to_send(false))
                .map_err(|e| format!("{path}: setting DTR/RTS: {e}"))?;
        }
        let reader = port.try_clone().map_err(|e| format!("{path}: {e}"))?;
        Ok((Box::new(reader), Box::new(port)))
    }
}
