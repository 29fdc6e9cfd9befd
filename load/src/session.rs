//! One well-behaved client: a whole Security 1 provisioning session over HTTP, as esp_prov runs it
//! (`proto-ver`, Command0, Command1, SetConfig, ApplyConfig, GetStatus), on one keep-alive connection
//! with the session cookie, through hyper's HTTP/1.1 client.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use prov_client::{messages, Cipher, OsRng, Sec1Client};

/// What a client needs to know about the device.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    pub(crate) pop: Vec<u8>,
    pub(crate) ssid: Vec<u8>,
    pub(crate) passphrase: Vec<u8>,
}

/// A session's timings (the whole session and each request), and whether its ApplyConfig was the one
/// the device took.
pub(crate) struct Timings {
    pub(crate) session: Duration,
    pub(crate) requests: Vec<Duration>,
    pub(crate) applied: bool,
}

/// `Status::InternalError`: ESP-IDF's manager answers it to ApplyConfig once credentials were received,
/// so on one device every session's ApplyConfig but the first gets it.
const INTERNAL_ERROR: i32 = 5;

struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    cookie: Option<String>,
    requests: Vec<Duration>,
}

impl Conn {
    async fn post(&mut self, endpoint: &str, body: Vec<u8>) -> Result<Vec<u8>> {
        let mut req = hyper::Request::post(format!("/{endpoint}"))
            .header("Host", "192.168.4.1")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "text/plain");
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c.as_str());
        }
        let req = req.body(Full::new(Bytes::from(body)))?;
        let t = Instant::now();
        self.sender.ready().await.context("connection closed")?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .with_context(|| format!("POST /{endpoint}: no response"))?;
        if !resp.status().is_success() {
            bail!("POST /{endpoint}: {}", resp.status());
        }
        if let Some(set) = resp.headers().get("set-cookie") {
            let v = set.to_str().unwrap_or_default();
            self.cookie = Some(v.split(';').next().unwrap_or_default().to_owned());
        }
        let body = resp.into_body().collect().await?.to_bytes().to_vec();
        self.requests.push(t.elapsed());
        Ok(body)
    }
}

/// Runs one whole session; an error names the step that failed.
pub(crate) async fn provision(target: &Target, from: std::net::Ipv4Addr) -> Result<Timings> {
    let start = Instant::now();
    let stream = crate::attack::connect_from(from, target.addr)
        .await
        .context("connect")?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake")?;
    let driver = tokio::spawn(conn);
    let mut c = Conn {
        sender,
        cookie: None,
        requests: Vec::new(),
    };
    let result = steps(&mut c, target).await;
    driver.abort();
    let applied = result?;
    Ok(Timings {
        session: start.elapsed(),
        requests: c.requests,
        applied,
    })
}

async fn steps(c: &mut Conn, target: &Target) -> Result<bool> {
    let ver = c.post("proto-ver", b"---".to_vec()).await?;
    if !ver.starts_with(b"{") {
        bail!("proto-ver: not JSON");
    }
    let mut client = Sec1Client::from_rng(Some(target.pop.clone()), &mut OsRng);
    let r0 = c.post("prov-session", client.command0()).await?;
    let cmd1 = client.command1(&r0).context("Response0")?;
    let r1 = c.post("prov-session", cmd1).await?;
    let mut cipher = client.finish(&r1).context("Response1")?;
    let set = call(
        c,
        &mut cipher,
        messages::set_config(&target.ssid, &target.passphrase, &[], 0),
    )
    .await?;
    let set = messages::decode_resp_set_config(&set).context("SetConfig")?;
    if set.status != 0 {
        bail!("SetConfig: status {}", set.status);
    }
    let apply = call(c, &mut cipher, messages::apply_config()).await?;
    let apply = messages::decode_resp_apply_config(&apply).context("ApplyConfig")?;
    if apply.status != 0 && apply.status != INTERNAL_ERROR {
        bail!("ApplyConfig: status {}", apply.status);
    }
    let status = call(c, &mut cipher, messages::get_status()).await?;
    messages::decode_resp_get_status(&status).context("GetStatus")?;
    Ok(apply.status == 0)
}

async fn call(c: &mut Conn, cipher: &mut Cipher, plain: Vec<u8>) -> Result<Vec<u8>> {
    let answer = c.post("prov-config", cipher.encrypt(&plain)).await?;
    cipher.decrypt(&answer).context("decrypt")
}
