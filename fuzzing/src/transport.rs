//! The transports' sans-IO parts: the console line parser, the HTTP head parser (pipelined requests,
//! limits, the session cookie), and the BLE write check and offset reads.

use sim_device::transport::ble::profile::{
    check_write, read_from, read_slice, BleStack, WriteCheck,
};
use sim_device::transport::console::line::{self, Line, Parsed};
use sim_device::transport::httpd;

/// The fuzz target for the console: the first byte picks the line buffer (ESP-IDF's 256 or none).
pub fn console(data: &[u8]) {
    let Some((&which, line)) = data.split_first() else {
        return;
    };
    let line_buf = if which % 2 == 0 { 256 } else { usize::MAX };
    match line::parse(line, line_buf) {
        Line::Empty => {}
        Line::Command { parsed, .. } => {
            if let Parsed::Request { body, .. } = parsed {
                // Two hex digits a byte, within the line.
                assert!(
                    body.len() * 2 <= line.len().min(line_buf),
                    "payload longer than the line"
                );
            }
        }
    }
}

/// The fuzz target for the HTTP server: heads are read from the front of the input until it is used up
/// or refused, as one connection's requests would be.
pub fn http(data: &[u8]) {
    let mut buf = data.to_vec();
    for _ in 0..64 {
        let before = buf.len();
        match httpd::parse_head(&mut buf) {
            Ok(Some(head)) => {
                assert!(!head.method.is_empty(), "a head with no method");
                assert!(
                    head.uri.len() <= 512,
                    "a URI longer than esp_http_server's 512 bytes"
                );
                // 19 bytes at most; bytes that are not UTF-8 read as one replacement character each.
                assert!(
                    head.cookie.is_none_or(|c| c.chars().count() < 20),
                    "a cookie longer than protocomm_httpd's buffer"
                );
                assert!(buf.len() < before, "a head that consumed nothing");
                // The body would follow; the next head starts after it in a real connection. Skip
                // nothing here: pipelined heads are the interesting part.
            }
            Ok(None) | Err(_) => return,
        }
    }
}

/// The fuzz target for BLE: a write check and the reads that follow, with stack, sizes and offsets from
/// the input.
pub fn ble(data: &[u8]) {
    let [which, o1, o2, m1, m2, rest @ ..] = data else {
        return;
    };
    let stack = if which % 2 == 0 {
        BleStack::Bluedroid
    } else {
        BleStack::Nimble
    };
    let offset = u16::from_le_bytes([*o1, *o2]);
    let link_mtu = u16::from_le_bytes([*m1, *m2]);
    let max = stack.max_value_len(which & 2 == 0);
    match check_write(stack, max, rest.len(), offset) {
        WriteCheck::Process => assert!(
            offset == 0 && !rest.is_empty() && rest.len() <= max,
            "a write the stack refuses was processed"
        ),
        WriteCheck::AcceptIgnored => assert!(rest.is_empty() && stack == BleStack::Nimble),
        WriteCheck::Reject(_) => {}
    }
    // Long reads by offset put the value back together.
    let mut got = Vec::new();
    let mut at: u16 = 0;
    while let Ok(chunk) = read_slice(rest, at, stack.default_mtu(), link_mtu) {
        if chunk.is_empty() {
            break;
        }
        got.extend_from_slice(&chunk);
        let Some(next) = at.checked_add(chunk.len() as u16) else {
            break;
        };
        at = next;
    }
    if rest.len() < usize::from(u16::MAX) {
        assert_eq!(got, rest, "offset reads do not give the value back");
    }
    let tail = read_from(rest, offset);
    assert_eq!(tail.is_ok(), usize::from(offset) <= rest.len());
}

/// Seeds of `console`: lines as clients type them, under both line buffers.
pub fn console_seeds() -> Vec<Vec<u8>> {
    [
        "prov-session 0 10015a25a201220a20\r",
        "help\r",
        "\"prov-config\" -1 5200\r",
        "prov-scan 4294967296 0802\r",
        "a\\ b \"c d\" e\\\r",
    ]
    .iter()
    .flat_map(|l| {
        [
            [&[0u8][..], l.as_bytes()].concat(),
            [&[1u8][..], l.as_bytes()].concat(),
        ]
    })
    .collect()
}

/// Seeds of `http`: requests as clients send them, pipelined, and a bad one.
pub fn http_seeds() -> Vec<Vec<u8>> {
    [
        "POST /prov-session HTTP/1.1\r\nHost: 192.168.4.1\r\nContent-Length: 4\r\nCookie: session=12345\r\n\r\n",
        "POST /proto-ver HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        "BREW /x HTTP/2.0\r\n\r\n",
    ]
    .iter()
    .map(|r| r.as_bytes().to_vec())
    .collect()
}

/// Seeds of `ble`: writes of every size class, under both stacks.
pub fn ble_seeds() -> Vec<Vec<u8>> {
    [0usize, 1, 22, 255, 480, 600]
        .iter()
        .flat_map(|&n| (0..4u8).map(move |w| [&[w, 0, 0, 23, 0][..], &vec![0xa5; n]].concat()))
        .collect()
}
