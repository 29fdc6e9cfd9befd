//! Bad input over HTTP gets exactly the answer spec §4.1 / §7 give (ESP-IDF's esp_http_server and
//! protocomm_httpd), and the device keeps serving other clients afterwards.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::Sim;

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s
}

/// Everything the server sends until it closes the connection.
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// One response (head + Content-Length body); `None` if the server closed first.
fn read_response(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    Some((head, body))
}

fn post(path: &str, body: &[u8], cookie: Option<&str>) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: 192.168.4.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: {c}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A fresh client still gets the version JSON.
fn assert_serving(addr: SocketAddr) {
    let mut s = connect(addr);
    s.write_all(&post("/proto-ver", b"---", None))
        .expect("send");
    let (head, body) = read_response(&mut s).expect("a response");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("\"prov\""));
}

fn sim() -> Sim {
    Sim::start(&["--security", "1", "--pop", "abcd1234"])
}

fn exact_error(status: &str, msg: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{msg}",
        msg.len()
    )
    .into_bytes()
}

#[test]
fn unknown_endpoint_gets_404_then_close() {
    let sim = sim();
    let mut s = connect(sim.addr());
    s.write_all(&post("/prov-nothing", b"x", None)).unwrap();
    assert_eq!(
        read_to_close(&mut s),
        exact_error("404 Not Found", "Nothing matches the given URI")
    );
    assert_serving(sim.addr());
}

#[test]
fn wrong_method_gets_405_then_close() {
    let sim = sim();
    for req in [
        "GET /proto-ver HTTP/1.1\r\nHost: x\r\n\r\n",
        "PUT /prov-session HTTP/1.1\r\nContent-Length: 1\r\n\r\nx",
    ] {
        let mut s = connect(sim.addr());
        s.write_all(req.as_bytes()).unwrap();
        assert_eq!(
            read_to_close(&mut s),
            exact_error(
                "405 Method Not Allowed",
                "Specified method is invalid for this resource"
            )
        );
    }
    assert_serving(sim.addr());
}

#[test]
fn oversized_empty_or_chunked_bodies_close_without_response() {
    let sim = sim();
    let big = vec![b'x'; 4097];
    let cases: Vec<Vec<u8>> = vec![
        post("/proto-ver", &big, None),
        post("/proto-ver", b"", None),
        b"POST /proto-ver HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"POST /proto-ver HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
            .to_vec(),
    ];
    for req in cases {
        let mut s = connect(sim.addr());
        let _ = s.write_all(&req);
        assert_eq!(
            read_to_close(&mut s),
            b"",
            "request {:?}",
            String::from_utf8_lossy(&req[..40])
        );
    }
    // 4096 bytes is still accepted (proto-ver ignores the body).
    let mut s = connect(sim.addr());
    s.write_all(&post("/proto-ver", &vec![b'y'; 4096], None))
        .unwrap();
    assert!(read_response(&mut s).is_some_and(|(h, _)| h.starts_with("HTTP/1.1 200 OK")));
    assert_serving(sim.addr());
}

#[test]
fn garbage_gets_400_or_a_silent_close() {
    let sim = sim();
    // Not HTTP at all: esp_http_server's parser fails -> 400.
    let mut s = connect(sim.addr());
    s.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")
        .unwrap();
    assert_eq!(
        read_to_close(&mut s),
        exact_error("400 Bad Request", "Bad request syntax")
    );
    // An unknown method token is a parse error too.
    let mut s = connect(sim.addr());
    s.write_all(b"BREW /proto-ver HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(
        read_to_close(&mut s),
        exact_error("400 Bad Request", "Bad request syntax")
    );
    // Valid HTTP, garbage protocomm payload: the handler fails -> connection closed, no response.
    let mut s = connect(sim.addr());
    s.write_all(&post("/prov-session", b"\xff\xfe\xfd garbage", None))
        .unwrap();
    assert_eq!(read_to_close(&mut s), b"");
    let mut s = connect(sim.addr());
    s.write_all(&post("/prov-config", b"\x08\x00", None))
        .unwrap();
    assert_eq!(
        read_to_close(&mut s),
        b"",
        "data before a session is a transport error"
    );
    assert_serving(sim.addr());
}

#[test]
fn long_uri_and_headers_get_414_and_431() {
    let sim = sim();
    let mut s = connect(sim.addr());
    let long = format!(
        "POST /{} HTTP/1.1\r\nContent-Length: 1\r\n\r\nx",
        "a".repeat(600)
    );
    s.write_all(long.as_bytes()).unwrap();
    assert_eq!(
        read_to_close(&mut s),
        exact_error("414 URI Too Long", "URI is too long")
    );
    let mut s = connect(sim.addr());
    let big = format!(
        "POST /proto-ver HTTP/1.1\r\nX-Filler: {}\r\nContent-Length: 1\r\n\r\nx",
        "b".repeat(1100)
    );
    s.write_all(big.as_bytes()).unwrap();
    assert_eq!(
        read_to_close(&mut s),
        exact_error(
            "431 Request Header Fields Too Large",
            "Header fields are too long"
        )
    );
    assert_serving(sim.addr());
}

#[test]
fn a_request_that_never_finishes_gets_408_after_5_s() {
    let sim = sim();
    let mut s = connect(sim.addr());
    let t = Instant::now();
    s.write_all(b"POST /proto-ver HTTP/1.1\r\nContent-Le")
        .unwrap();
    let got = read_to_close(&mut s);
    let waited = t.elapsed();
    assert_eq!(
        got,
        exact_error("408 Request Timeout", "Server closed this connection")
    );
    assert!(
        waited >= Duration::from_millis(4900) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
    // A body that stops arriving: the protocomm handler fails -> closed without a response.
    let mut s = connect(sim.addr());
    s.write_all(b"POST /proto-ver HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    assert_eq!(read_to_close(&mut s), b"");
    assert_serving(sim.addr());
}

#[test]
fn a_stuck_client_does_not_lock_others_out() {
    let sim = sim();
    let mut stuck = connect(sim.addr());
    stuck
        .write_all(b"POST /proto-ver HTTP/1.1\r\nContent-Le")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // max_open_sockets = 1 with LRU purge: the newcomer evicts the stuck connection and is served at once.
    let t = Instant::now();
    assert_serving(sim.addr());
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(
        read_to_close(&mut stuck),
        b"",
        "the purged connection is closed without a response"
    );
}

#[test]
fn a_thousand_rapid_connections() {
    let sim = sim();
    let t = Instant::now();
    let mut served = 0;
    for i in 0..1000 {
        let mut s = connect(sim.addr());
        if i % 2 == 0 {
            // Half of them send a request and hang up without reading the answer.
            let _ = s.write_all(&post("/proto-ver", b"---", None));
        } else if i % 10 == 1 {
            let _ = s.write_all(&post("/proto-ver", b"---", None));
            served += usize::from(read_response(&mut s).is_some());
        }
    }
    eprintln!(
        "1000 connections in {:?}; {served} awaited answers received",
        t.elapsed()
    );
    assert_eq!(
        served, 100,
        "every client that waited for its answer got it"
    );
    assert_serving(sim.addr());
    let (status, _) = sim.control("GET", "/state", None);
    assert_eq!(status, 200);
}

#[test]
fn sessions_follow_cookie_and_socket_rules() {
    let sim = sim();
    let cookie_of = |head: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix("Set-Cookie: "))
            .map(str::to_owned)
    };
    // A new client gets a cookie; the same socket without a cookie continues (no new cookie).
    let mut a = connect(sim.addr());
    a.write_all(&post("/proto-ver", b"---", None)).unwrap();
    let (h1, _) = read_response(&mut a).unwrap();
    let c1 = cookie_of(&h1).expect("Set-Cookie on a new session");
    assert!(
        c1.starts_with("session=") && c1["session=".len()..].parse::<u32>().is_ok(),
        "{c1}"
    );
    a.write_all(&post("/proto-ver", b"---", None)).unwrap();
    let (h2, _) = read_response(&mut a).unwrap();
    assert_eq!(cookie_of(&h2), None, "same socket, same session");
    // The exact cookie on a new connection resumes the session.
    drop(a);
    let mut b = connect(sim.addr());
    b.write_all(&post("/proto-ver", b"---", Some(&c1))).unwrap();
    let (h3, _) = read_response(&mut b).unwrap();
    assert_eq!(cookie_of(&h3), None, "cookie resumes the session");
    // Any other cookie value starts a new session, even on the same socket.
    b.write_all(&post("/proto-ver", b"---", Some("session=1")))
        .unwrap();
    let (h4, _) = read_response(&mut b).unwrap();
    let c2 = cookie_of(&h4).expect("new session");
    assert_ne!(c2, c1);
    b.write_all(&post("/proto-ver", b"---", Some(&format!(" {c2}"))))
        .unwrap();
    // (a leading space is stripped by the header parser, so this still matches)
    let (h5, _) = read_response(&mut b).unwrap();
    assert_eq!(cookie_of(&h5), None);
    b.write_all(&post("/proto-ver", b"---", Some(&format!("{c2}; x=1"))))
        .unwrap();
    let (h6, _) = read_response(&mut b).unwrap();
    assert!(
        cookie_of(&h6).is_some(),
        "extra cookies are not the same session"
    );
}
