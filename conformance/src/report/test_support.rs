//! A hand-built run and a small markup checker shared by the renderers' tests.

use std::time::Duration;

use crate::model::{Answer, CaseResult, Column, ColumnReport, Exchange, RunReport, Verdict};

/// The note of the first exchange of the failing case: markup characters and a control char.
pub(super) const NASTY_NOTE: &str = "pop check <&>\" \u{1}bell";

/// Two columns; 4 pass, 1 fail, 2 skip; 4 distinct case IDs in 3 groups; one failing case
/// whose transcript has markup in a note, a control character and a 1000-byte body.
pub(super) fn sample() -> RunReport {
    let col = |transport: &str, security| Column {
        device: "sim".into(),
        transport: transport.into(),
        security,
        profile: "esp-idf-5.5".into(),
    };
    let case = |id: &str, group: &str, title: &str, verdict, ms, transcript| CaseResult {
        id: id.into(),
        group: group.into(),
        title: title.into(),
        verdict,
        duration: Duration::from_millis(ms),
        transcript,
    };
    let failing = vec![
        Exchange {
            at_ms: 3,
            session: 1,
            endpoint: "prov-session".into(),
            request: vec![0x08, 0x02, 0xab],
            request_plain: Some(vec![0x10, 0x01]),
            answer: Answer::Data(vec![0x08, 0x02, 0x5a, 0xcd]),
            answer_plain: Some(vec![0x52, 0x02]),
            note: NASTY_NOTE.into(),
        },
        Exchange {
            at_ms: 9,
            session: 2,
            endpoint: "prov-config".into(),
            request: vec![0x42; 1000],
            request_plain: None,
            answer: Answer::NoResponse("connection closed <eof>".into()),
            answer_plain: None,
            note: String::new(),
        },
    ];
    let fail = Verdict::Fail("expected status 0x03, got <none> & \"closed\"\u{7}".into());
    RunReport {
        tool: "provlab-conformance 0.1.0".into(),
        started: "2025-01-02T03:04:05Z".into(),
        duration: Duration::from_millis(1234),
        filter: Some("SEC2-*".into()),
        columns: vec![
            ColumnReport {
                column: col("http", 2),
                duration: Duration::from_millis(800),
                board: None,
                results: vec![
                    case(
                        "SEC2-HANDSHAKE",
                        "session",
                        "handshake completes",
                        Verdict::Pass,
                        12,
                        vec![],
                    ),
                    case(
                        "SEC2-POP-WRONG",
                        "session",
                        "wrong PoP | rejected <b>",
                        fail,
                        40,
                        failing,
                    ),
                    case(
                        "HTTP-404",
                        "http",
                        "unknown endpoint is 404",
                        Verdict::Pass,
                        5,
                        vec![],
                    ),
                ],
            },
            ColumnReport {
                column: col("console", 1),
                duration: Duration::from_millis(400),
                board: None,
                results: vec![
                    case(
                        "SEC2-HANDSHAKE",
                        "session",
                        "handshake completes",
                        Verdict::Skip("security 2 only <sec2>".into()),
                        0,
                        vec![],
                    ),
                    case(
                        "SEC2-POP-WRONG",
                        "session",
                        "wrong PoP | rejected <b>",
                        Verdict::Pass,
                        20,
                        vec![],
                    ),
                    case(
                        "HTTP-404",
                        "http",
                        "unknown endpoint is 404",
                        Verdict::Skip("HTTP only".into()),
                        0,
                        vec![],
                    ),
                    case(
                        "CON-ECHO",
                        "console",
                        "console echoes",
                        Verdict::Pass,
                        3,
                        vec![],
                    ),
                ],
            },
        ],
    }
}

/// One start tag (or empty-element tag) seen by [`check_markup`].
#[derive(Debug)]
pub(super) struct Element {
    /// Tag name.
    pub(super) name: String,
    /// Attributes, values with entities still encoded.
    pub(super) attrs: Vec<(String, String)>,
}

impl Element {
    /// Value of attribute `name`.
    pub(super) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Checks that `&` only starts a known entity or a character reference.
fn check_entities(s: &str) -> Result<(), String> {
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        let after = &rest[i + 1..];
        let end = after
            .find(';')
            .ok_or_else(|| format!("bare & before {after:.20?}"))?;
        let name = &after[..end];
        let ok = matches!(name, "amp" | "lt" | "gt" | "quot" | "apos")
            || name
                .strip_prefix('#')
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(format!("unknown entity &{name};"));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

/// A tiny well-formedness check for the XML and HTML we write: tags balance (elements in
/// `void` excepted), attribute values are quoted and hold no `<`, every `&` is a known entity,
/// and no character outside XML 1.0's `Char` production appears. `<!…>` and `<?…?>` are
/// skipped. Returns the start tags in document order.
pub(super) fn check_markup(doc: &str, void: &[&str]) -> Result<Vec<Element>, String> {
    if let Some(c) = doc.chars().find(|&c| super::visible(c) != c) {
        return Err(format!("character {c:?} not allowed"));
    }
    let mut open: Vec<String> = Vec::new();
    let mut elements = Vec::new();
    let mut rest = doc;
    while let Some(lt) = rest.find('<') {
        check_entities(&rest[..lt])?;
        let tag_len = rest[lt..].find('>').ok_or("unterminated tag")?;
        let tag = &rest[lt + 1..lt + tag_len];
        rest = &rest[lt + tag_len + 1..];
        if tag.starts_with('!') || tag.starts_with('?') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            match open.pop() {
                Some(o) if o == name.trim() => continue,
                other => return Err(format!("</{name}> closes {other:?}")),
            }
        }
        let empty = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name_len = body.find(char::is_whitespace).unwrap_or(body.len());
        let name = &body[..name_len];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(format!("bad tag <{tag}>"));
        }
        let mut attrs = Vec::new();
        let mut a = body[name_len..].trim_start();
        while !a.is_empty() {
            let eq = a
                .find('=')
                .ok_or_else(|| format!("attribute without value in <{tag}>"))?;
            let key = a[..eq].trim();
            let v = a[eq + 1..]
                .strip_prefix('"')
                .ok_or_else(|| format!("unquoted value in <{tag}>"))?;
            let close = v
                .find('"')
                .ok_or_else(|| format!("unterminated value in <{tag}>"))?;
            let value = &v[..close];
            if value.contains('<') {
                return Err(format!("< in attribute of <{tag}>"));
            }
            check_entities(value)?;
            attrs.push((key.to_owned(), value.to_owned()));
            a = v[close + 1..].trim_start();
        }
        if !empty && !void.contains(&name) {
            open.push(name.to_owned());
        }
        elements.push(Element {
            name: name.to_owned(),
            attrs,
        });
    }
    check_entities(rest)?;
    if open.is_empty() {
        Ok(elements)
    } else {
        Err(format!("unclosed elements {open:?}"))
    }
}
