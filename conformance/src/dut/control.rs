//! A client for provlab's simulator control channel (`sim-device --control ADDR`), the `[reset] control`
//! of a device file: factory reset between cases, and the boot count that tells a reboot (a crash).
//!
//! Plain HTTP/1.1 on `std::net` with one request per connection; the answers are JSON.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde_json::Value;

use super::http::parse;

/// The control channel at `http://HOST:PORT`.
#[derive(Clone, Debug)]
pub struct Control {
    authority: String,
    timeout: Duration,
}

impl Control {
    /// The control channel at `url` (`http://HOST:PORT`); `timeout` bounds each request.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, String> {
        let authority = url
            .strip_prefix("http://")
            .map(|a| a.trim_end_matches('/'))
            .filter(|a| !a.is_empty() && !a.contains('/'))
            .ok_or_else(|| format!("{url:?}: expected http://HOST:PORT"))?;
        Ok(Self {
            authority: authority.to_owned(),
            timeout,
        })
    }

    /// The device's boot count (`GET /state`).
    pub fn boot(&self) -> Result<u64, String> {
        let state = self.call("GET", "/state")?;
        state["boot"]
            .as_u64()
            .ok_or_else(|| format!("GET /state has no boot count: {state}"))
    }

    /// Erases the credentials and reboots (`POST /factory-reset`); returns the new boot count.
    pub fn factory_reset(&self) -> Result<u64, String> {
        let state = self.call("POST", "/factory-reset")?;
        state["boot"]
            .as_u64()
            .ok_or_else(|| format!("POST /factory-reset answered no boot count: {state}"))
    }

    fn call(&self, method: &str, path: &str) -> Result<Value, String> {
        let what = |e: String| format!("control channel http://{}{path}: {e}", self.authority);
        let addr = self
            .authority
            .to_socket_addrs()
            .map_err(|e| what(e.to_string()))?
            .next()
            .ok_or_else(|| what("no address".into()))?;
        let mut s =
            TcpStream::connect_timeout(&addr, self.timeout).map_err(|e| what(e.to_string()))?;
        s.set_read_timeout(Some(self.timeout))
            .map_err(|e| what(e.to_string()))?;
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.authority
        );
        s.write_all(req.as_bytes())
            .map_err(|e| what(e.to_string()))?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let resp = loop {
            if let Some(r) = parse(&buf).map_err(|e| what(e.to_string()))? {
                break r;
            }
            match s.read(&mut chunk) {
                Ok(0) => return Err(what("connection closed before a complete answer".into())),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(what(e.to_string())),
            }
            if buf.len() > 1 << 20 {
                return Err(what("answer over 1 MiB".into()));
            }
        };
        if resp.status != Some(200) {
            return Err(what(format!(
                "HTTP {:?}: {}",
                resp.status,
                String::from_utf8_lossy(&resp.body)
            )));
        }
        serde_json::from_slice(&resp.body).map_err(|e| what(format!("not JSON: {e}")))
    }
}
