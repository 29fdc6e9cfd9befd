//! The test's serial client: the other end of the console, with the device task behind it.

use std::time::Duration;

use sim_device::runtime::world::{WorldFile, DEFAULT_WORLD};
use sim_device::runtime::{self, ControlOp, DeviceHandle, SimOptions};
use sim_device::transport::console::{self, PROMPT};
use sim_device::Security;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

use super::{config, WAIT};

/// A serial client on the console's other end.
pub(crate) struct Client {
    pub(crate) io: DuplexStream,
    buf: Vec<u8>,
    pub(crate) handle: DeviceHandle,
    pub(crate) task: JoinHandle<std::io::Result<()>>,
}

impl Client {
    pub(crate) async fn start(security: Security) -> Self {
        let world = WorldFile::from_toml(DEFAULT_WORLD).and_then(|w| w.to_world());
        let handle = runtime::spawn(SimOptions {
            device: config(security),
            world: world.expect("default world"),
            store: None,
            seed: None,
            rng: None,
            virtual_clock: false,
            event_history: sim_device::runtime::DEFAULT_HISTORY,
        })
        .expect("device task");
        let (io, server) = tokio::io::duplex(1 << 16);
        let (r, w) = tokio::io::split(server);
        let task = tokio::spawn(console::serve(handle.clone(), r, w));
        Self {
            io,
            buf: Vec::new(),
            handle,
            task,
        }
    }

    pub(crate) async fn send(&mut self, bytes: &[u8]) {
        self.io
            .write_all(bytes)
            .await
            .expect("write to the console");
    }

    /// Everything up to the next prompt (which is consumed).
    pub(crate) async fn until_prompt(&mut self) -> Vec<u8> {
        let fut = async {
            loop {
                if let Some(out) = take_prompt(&mut self.buf) {
                    return out;
                }
                let mut chunk = [0u8; 1024];
                match self.io.read(&mut chunk).await {
                    Ok(n @ 1..) => self.buf.extend_from_slice(&chunk[..n]),
                    r => panic!("console closed ({r:?}); got {:?}", text(&self.buf)),
                }
            }
        };
        match tokio::time::timeout(WAIT, fut).await {
            Ok(out) => out,
            Err(_) => panic!("no prompt within {WAIT:?}; got {:?}", text(&self.buf)),
        }
    }

    /// Everything that arrives within `d` (no prompt expected).
    pub(crate) async fn quiet(&mut self, d: Duration) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + d;
        let mut chunk = [0u8; 1024];
        while let Ok(Ok(n @ 1..)) =
            tokio::time::timeout_at(deadline, self.io.read(&mut chunk)).await
        {
            self.buf.extend_from_slice(&chunk[..n]);
        }
        std::mem::take(&mut self.buf)
    }

    /// Send `line` (CR appended) and return what came back before the next prompt.
    pub(crate) async fn line(&mut self, line: &str) -> Vec<u8> {
        self.send(format!("{line}\r").as_bytes()).await;
        self.until_prompt().await
    }

    /// Send `line`; the console must answer `reply` (`\r\n<hex>\r\n` after the echo), or with `None`
    /// print nothing but the echo and the next prompt.
    pub(crate) async fn check(&mut self, line: &str, reply: Option<&[u8]>) {
        let echo = format!("{line}\r\n");
        let want = match reply {
            Some(r) => format!("{echo}\r\n{}\r\n", hex::encode(r)),
            None => echo,
        };
        assert_eq!(text(&self.line(line).await), want, "line {line:?}");
    }

    /// The device's open session id (control channel `state`).
    pub(crate) async fn session(&self) -> serde_json::Value {
        let state = tokio::time::timeout(WAIT, self.handle.control(ControlOp::State)).await;
        state.expect("state in time").expect("state")["session"].clone()
    }
}

/// Remove and return what precedes the first prompt in `buf` (the prompt is removed too).
pub(crate) fn take_prompt(buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let at = buf.windows(PROMPT.len()).position(|w| w == PROMPT)?;
    let out = buf[..at].to_vec();
    buf.drain(..at + PROMPT.len());
    Some(out)
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
