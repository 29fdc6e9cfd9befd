//! `protocomm_console`'s reading of one line, sans-IO: `esp_console_split_argv`, `atoi` and the hex
//! payload, as the module above describes. Public so that it can be fuzzed on its own.

use crate::SessionId;

/// What one console line is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// No argument at all: nothing runs.
    Empty,
    /// A command (an endpoint name, or `help`) and what its arguments make.
    Command {
        /// The first argument.
        name: Vec<u8>,
        /// The rest.
        parsed: Parsed,
    },
}

/// The arguments after the command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Fewer than three arguments in all (this many): the command prints nothing.
    TooFewArgs(usize),
    /// The payload is not hex digit pairs: dropped before it reaches the device.
    NotHex(SessionId),
    /// `<endpoint> <session-id> <hex>`.
    Request {
        /// The session id, read as `atoi`.
        session: SessionId,
        /// The payload bytes.
        body: Vec<u8>,
    },
}

/// `esp_console_run()`'s view of `line` (the terminating CR included), with a line buffer of `line_buf`
/// bytes: the text ends at a NUL and at `line_buf - 1` bytes.
pub fn parse(line: &[u8], line_buf: usize) -> Line {
    let text = line.split(|&b| b == 0).next().unwrap_or_default();
    let text = text.get(..line_buf.saturating_sub(1)).unwrap_or(text);
    let mut args = split_argv(text).into_iter();
    let Some(name) = args.next() else {
        return Line::Empty;
    };
    let parsed = match (args.next(), args.next()) {
        (Some(session), Some(payload)) => {
            let session = atoi(&session);
            match hex_pairs(&payload) {
                Some(body) => Parsed::Request { session, body },
                None => Parsed::NotHex(session),
            }
        }
        (session, _) => Parsed::TooFewArgs(1 + usize::from(session.is_some())),
    };
    Line::Command { name, parsed }
}

/// `esp_console_split_argv()`: spaces separate arguments, `"` quotes, `\` escapes `\`, `"` and space (any
/// other escaped byte is dropped), a closing quote ends its argument. CR and LF are read as spaces.
fn split_argv(line: &[u8]) -> Vec<Vec<u8>> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum St {
        Space,
        Arg,
        Quoted,
        ArgEscaped,
        QuotedEscaped,
    }
    let mut args = Vec::new();
    let mut cur = Vec::new();
    let mut st = St::Space;
    for &c in line {
        let c = if c == b'\r' || c == b'\n' { b' ' } else { c };
        st = match st {
            St::Space => match c {
                b' ' => St::Space,
                b'"' => St::Quoted,
                b'\\' => St::ArgEscaped,
                _ => {
                    cur.push(c);
                    St::Arg
                }
            },
            St::Arg => match c {
                b' ' => {
                    args.push(std::mem::take(&mut cur));
                    St::Space
                }
                b'\\' => St::ArgEscaped,
                _ => {
                    cur.push(c);
                    St::Arg
                }
            },
            St::Quoted => match c {
                b'"' => {
                    args.push(std::mem::take(&mut cur));
                    St::Space
                }
                b'\\' => St::QuotedEscaped,
                _ => {
                    cur.push(c);
                    St::Quoted
                }
            },
            St::ArgEscaped | St::QuotedEscaped => {
                if matches!(c, b'\\' | b'"' | b' ') {
                    cur.push(c);
                }
                if st == St::ArgEscaped {
                    St::Arg
                } else {
                    St::Quoted
                }
            }
        };
    }
    if st != St::Space {
        args.push(cur);
    }
    args
}

/// C `atoi` as newlib does it on the ESP32 (`long` is 32 bits): optional leading whitespace and sign, then
/// decimal digits; saturates on overflow; 0 when there are no digits. The `int` becomes a `uint32_t`.
fn atoi(text: &[u8]) -> SessionId {
    let start = text
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .unwrap_or(text.len());
    let rest = text.get(start..).unwrap_or_default();
    let (negative, digits) = match rest.split_first() {
        Some((b'-', d)) => (true, d),
        Some((b'+', d)) => (false, d),
        _ => (false, rest),
    };
    let limit = i64::from(i32::MAX) + 1;
    let magnitude = digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0i64, |v, d| (v * 10 + i64::from(d - b'0')).min(limit));
    let value = if negative { -magnitude } else { magnitude };
    let value = value.clamp(i64::from(i32::MIN), i64::from(i32::MAX));
    // Two's complement reinterpretation, as the C cast from `int` to `uint32_t`.
    (value as i32) as u32
}

/// Hex digit pairs to bytes; an odd trailing character is ignored. `None` if a pair is not two hex digits.
fn hex_pairs(text: &[u8]) -> Option<Vec<u8>> {
    let digit = |c: u8| char::from(c).to_digit(16);
    text.chunks_exact(2)
        .map(|pair| match *pair {
            [hi, lo] => Some((digit(hi)? * 16 + digit(lo)?) as u8),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        split_argv(line.as_bytes())
            .into_iter()
            .map(|a| String::from_utf8_lossy(&a).into_owned())
            .collect()
    }

    #[test]
    fn a_line_is_command_session_and_hex() {
        let req = |s: &str| parse(s.as_bytes(), 256);
        assert_eq!(req(" \r"), Line::Empty);
        assert_eq!(
            req("prov-config 7 0a0b\r"),
            Line::Command {
                name: b"prov-config".to_vec(),
                parsed: Parsed::Request {
                    session: 7,
                    body: vec![0x0a, 0x0b]
                }
            }
        );
        assert!(matches!(
            req("prov-config 7\r"),
            Line::Command {
                parsed: Parsed::TooFewArgs(2),
                ..
            }
        ));
        assert!(matches!(
            req("prov-config 7 zz\r"),
            Line::Command {
                parsed: Parsed::NotHex(7),
                ..
            }
        ));
        // The 255-byte text limit cuts the payload; a NUL ends the text.
        let long = format!("e 1 {}\r", "ab".repeat(200));
        match parse(long.as_bytes(), 256) {
            Line::Command {
                parsed: Parsed::Request { body, .. },
                ..
            } => assert_eq!(body.len(), (255 - 4) / 2),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(b"e 1 ab\0cd\r", 256),
            Line::Command { parsed: Parsed::Request { ref body, .. }, .. } if body == &[0xab]
        ));
    }

    #[test]
    fn splits_like_esp_console() {
        assert_eq!(args("prov-session 0 abcd\r"), ["prov-session", "0", "abcd"]);
        assert_eq!(args("  a   b  "), ["a", "b"]);
        assert_eq!(args("\"a b\" c\\ d e\\x"), ["a b", "c d", "e"]);
        assert_eq!(args("\"ab\"cd \"\""), ["ab", "cd", ""]);
        assert_eq!(args("\"q\\\"x\""), ["q\"x"]);
        assert_eq!(args("\na\nb\n"), ["a", "b"]);
        assert!(args("").is_empty());
        assert!(args(" \r").is_empty());
    }

    #[test]
    fn atoi_reads_leading_digits() {
        assert_eq!(atoi(b"0"), 0);
        assert_eq!(atoi(b"42abc"), 42);
        assert_eq!(atoi(b"  +7"), 7);
        assert_eq!(atoi(b"abc"), 0);
        assert_eq!(atoi(b""), 0);
        assert_eq!(atoi(b"-1"), u32::MAX);
        assert_eq!(atoi(b"4294967295"), i32::MAX as u32);
        assert_eq!(atoi(b"-99999999999999999999999"), 0x8000_0000);
    }

    #[test]
    fn hex_pairs_ignore_an_odd_tail_and_reject_non_hex() {
        assert_eq!(hex_pairs(b"6e6F6e65"), Some(vec![0x6e, 0x6f, 0x6e, 0x65]));
        assert_eq!(hex_pairs(b"abc"), Some(vec![0xab]));
        assert_eq!(hex_pairs(b""), Some(vec![]));
        assert_eq!(hex_pairs(b"zz"), None);
        assert_eq!(hex_pairs(b"0x"), None);
        assert_eq!(hex_pairs(b"+f"), None);
    }
}
