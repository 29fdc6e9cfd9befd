//! A recording TCP proxy between an HTTP client and the device, and the golden-vector index the recorded
//! exchanges are checked against.
//!
//! esp_prov is lenient (it ignores header spelling and most status fields), so the interop tests also
//! look at the bytes: every HTTP response must be framed exactly as `esp_http_server` frames it, and every
//! plaintext exchange that also appears in a golden transcript (same endpoint, same request bytes) must
//! get one of the responses ESP-IDF gave there.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// One HTTP exchange seen on the wire.
#[derive(Clone, Debug)]
pub struct HttpExchange {
    pub conn: usize,
    pub method: String,
    pub path: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Vec<u8>,
    /// Raw response head (status line and headers, CRLF-separated), `None` if the device closed instead.
    pub response_head: Option<String>,
    pub response_body: Vec<u8>,
}

/// Per connection: bytes client → device, bytes device → client.
type Streams = Arc<Mutex<Vec<(Vec<u8>, Vec<u8>)>>>;

/// A proxy forwarding to `target` and recording both directions of every connection.
pub struct Proxy {
    pub addr: SocketAddr,
    streams: Streams,
}

impl Proxy {
    pub fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        let addr = listener.local_addr().expect("proxy addr");
        let streams: Streams = Arc::default();
        let s2 = Arc::clone(&streams);
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(device) = TcpStream::connect(target) else {
                    continue;
                };
                let idx = {
                    let mut v = s2.lock().unwrap();
                    v.push((Vec::new(), Vec::new()));
                    v.len() - 1
                };
                pump(
                    client.try_clone().unwrap(),
                    device.try_clone().unwrap(),
                    Arc::clone(&s2),
                    idx,
                    true,
                );
                pump(device, client, Arc::clone(&s2), idx, false);
            }
        });
        Self { addr, streams }
    }

    /// Every exchange so far, in connection order.
    pub fn exchanges(&self) -> Vec<HttpExchange> {
        let streams = self.streams.lock().unwrap().clone();
        let mut out = Vec::new();
        for (conn, (up, down)) in streams.iter().enumerate() {
            let requests = split_messages(up);
            let responses = split_messages(down);
            for (i, (head, body)) in requests.into_iter().enumerate() {
                let mut lines = head.split("\r\n");
                let first = lines.next().unwrap_or("");
                let mut parts = first.split(' ');
                let method = parts.next().unwrap_or("").to_owned();
                let path = parts.next().unwrap_or("").to_owned();
                let request_headers = lines
                    .filter_map(|l| l.split_once(": "))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                let (response_head, response_body) = match responses.get(i) {
                    Some((h, b)) => (Some(h.clone()), b.clone()),
                    None => (None, Vec::new()),
                };
                out.push(HttpExchange {
                    conn,
                    method,
                    path,
                    request_headers,
                    request_body: body,
                    response_head,
                    response_body,
                });
            }
        }
        out
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, log: Streams, idx: usize, up: bool) {
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    {
                        let mut v = log.lock().unwrap();
                        let entry = &mut v[idx];
                        if up { &mut entry.0 } else { &mut entry.1 }.extend_from_slice(&buf[..n]);
                    }
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// Split a byte stream into (head, body) HTTP messages by Content-Length.
fn split_messages(mut s: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(end) = s.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&s[..end]).into_owned();
        let len = head
            .split("\r\n")
            .filter_map(|l| l.split_once(": "))
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let body_start = end + 4;
        let body_end = (body_start + len).min(s.len());
        out.push((head, s[body_start..body_end].to_vec()));
        s = &s[body_end..];
    }
    out
}

/// Assert every response is framed as esp_http_server frames a protocomm reply (spec §4.1), with
/// `Set-Cookie` exactly on the responses that started a session. Returns the number of responses seen.
pub fn assert_esp_http_framing(exchanges: &[HttpExchange]) -> usize {
    let mut seen = 0;
    for x in exchanges {
        let Some(head) = &x.response_head else {
            continue;
        };
        seen += 1;
        let mut lines = head.split("\r\n");
        assert_eq!(lines.next(), Some("HTTP/1.1 200 OK"), "{x:?}");
        assert_eq!(lines.next(), Some("Content-Type: text/html"), "{x:?}");
        assert_eq!(
            lines.next(),
            Some(format!("Content-Length: {}", x.response_body.len()).as_str()),
            "{x:?}"
        );
        let rest: Vec<&str> = lines.collect();
        let sent_cookie = x.request_headers.iter().any(|(k, _)| k == "Cookie");
        match rest.as_slice() {
            [] => assert!(
                sent_cookie,
                "a cookie-less request must start a session: {x:?}"
            ),
            [c] => {
                let id = c
                    .strip_prefix("Set-Cookie: session=")
                    .unwrap_or_else(|| panic!("{x:?}"));
                assert!(
                    id.parse::<u32>().is_ok(),
                    "cookie value must be a decimal u32: {c}"
                );
            }
            _ => panic!("unexpected headers {rest:?}"),
        }
    }
    seen
}

/// (endpoint, request plaintext) → the response plaintexts ESP-IDF gave, over every golden transcript.
pub fn golden_index() -> HashMap<(String, Vec<u8>), Vec<Vec<u8>>> {
    let dir = super::workspace().join("vectors/esp-idf");
    let mut map: HashMap<(String, Vec<u8>), Vec<Vec<u8>>> = HashMap::new();
    for entry in std::fs::read_dir(&dir).expect("vectors dir").flatten() {
        let p = entry.path();
        if p.extension().and_then(|e| e.to_str()) != Some("json") || p.ends_with("index.json") {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let Some(steps) = v["transcript"].as_array() else {
            continue;
        };
        for s in steps {
            let (Some(ep), Some(req)) = (
                s["endpoint"].as_str(),
                s["request_plaintext_hex"]
                    .as_str()
                    .or(s["request_hex"].as_str()),
            ) else {
                continue;
            };
            let resp = s["response_plaintext_hex"]
                .as_str()
                .or(s["response_hex"].as_str());
            if s["nondeterministic"].as_bool() == Some(true) || !s["error"].is_null() {
                continue;
            }
            let (Ok(req), Some(Ok(resp))) = (hex::decode(req), resp.map(hex::decode)) else {
                continue;
            };
            map.entry((ep.to_owned(), req)).or_default().push(resp);
        }
    }
    map
}

/// Check recorded plaintext exchanges against the golden index; returns how many matched a golden request.
pub fn assert_matches_golden(exchanges: &[HttpExchange]) -> usize {
    let golden = golden_index();
    let mut matched = 0;
    for x in exchanges {
        let Some(_) = &x.response_head else { continue };
        let key = (
            x.path.trim_start_matches('/').to_owned(),
            x.request_body.clone(),
        );
        if let Some(expected) = golden.get(&key) {
            matched += 1;
            assert!(
                expected.contains(&x.response_body),
                "{} {}: device answered {} but ESP-IDF answered one of {:?}",
                x.path,
                hex::encode(&x.request_body),
                hex::encode(&x.response_body),
                expected.iter().map(hex::encode).collect::<Vec<_>>()
            );
        }
    }
    matched
}
