//! JUnit XML, in the shape GitLab, Jenkins and GitHub test reporters read:
//!
//! ```xml
//! <testsuites name="provlab-conformance 0.1.0" tests="7" failures="1" errors="0" skipped="2" time="1.234">
//!   <testsuite name="sim/http/sec2" tests="3" failures="1" errors="0" skipped="0" time="0.800" timestamp="…">
//!     <properties>…device, transport, security, profile…</properties>
//!     <testcase classname="sim/http/sec2.session" name="SEC2-POP-WRONG: wrong PoP" time="0.040">
//!       <failure message="detail" type="conformance">detail + text transcript</failure>
//!     </testcase>
//!     <testcase …><skipped message="why"/></testcase>
//!   </testsuite>
//! </testsuites>
//! ```
//!
//! A HIL board's column adds the board and its flash and boot figures to `<properties>`, classes its
//! cases `<chip>.<transport>` (e.g. `esp32c3.ble`) and ends with the console log in `<system-out>`.
//!
//! Every count attribute is computed from the verdicts, so the totals always match the test cases.

use std::fmt::{self, Write as _};

use super::{escape_markup, secs, text_transcript};
use crate::model::{CaseResult, ColumnReport, RunReport, Verdict};

/// Longest `message` attribute, in characters; the element body always has the full detail.
const MESSAGE_LIMIT: usize = 1000;

/// Most console log kept in a board's `<system-out>`, in bytes.
const LOG_LIMIT: usize = 1 << 20;

/// Renders the whole run.
pub(super) fn render(run: &RunReport) -> Result<String, fmt::Error> {
    let mut x = String::with_capacity(4096);
    let t = run.tally();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    writeln!(
        x,
        r#"<testsuites name="{}" tests="{}" failures="{}" errors="{}" skipped="{}" time="{}">"#,
        escape(&run.tool),
        t.total(),
        t.fail,
        t.crashed,
        t.skip + t.not_judged,
        secs(run.duration)
    )?;
    for (i, col) in run.columns.iter().enumerate() {
        suite(&mut x, run, i, col)?;
    }
    x.push_str("</testsuites>\n");
    Ok(x)
}

/// One `<testsuite>`: a matrix column.
fn suite(x: &mut String, run: &RunReport, id: usize, col: &ColumnReport) -> fmt::Result {
    let label = col.column.label();
    let t = col.tally();
    writeln!(
        x,
        r#"  <testsuite name="{}" id="{id}" tests="{}" failures="{}" errors="{}" skipped="{}" time="{}" timestamp="{}">"#,
        escape(&label),
        t.total(),
        t.fail,
        t.crashed,
        t.skip + t.not_judged,
        secs(col.duration),
        escape(&run.started)
    )?;
    x.push_str("    <properties>\n");
    let security = col.column.security.to_string();
    let mut props = vec![
        ("device", col.column.device.as_str()),
        ("transport", col.column.transport.as_str()),
        ("security", security.as_str()),
        ("profile", col.column.profile.as_str()),
        ("tool", run.tool.as_str()),
    ];
    if let Some(filter) = &run.filter {
        props.push(("filter", filter));
    }
    if let Some(b) = &col.board {
        props.push(("board", &b.id));
        props.push(("chip", &b.chip));
        props.extend(b.properties.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
    for (name, value) in props {
        writeln!(
            x,
            r#"      <property name="{name}" value="{}"/>"#,
            escape(value)
        )?;
    }
    x.push_str("    </properties>\n");
    // A board's cases are classed `<chip>.<transport>`, as ESP-IDF's own CI names its target tests.
    let class = |case: &CaseResult| match &col.board {
        Some(b) => format!("{}.{}", b.chip, col.column.transport),
        None => format!("{label}.{}", case.group),
    };
    for case in &col.results {
        testcase(x, &class(case), case)?;
    }
    if let Some(b) = &col.board {
        writeln!(
            x,
            "    <system-out>{}</system-out>",
            escape_text(&log_tail(&b.log))
        )?;
    }
    x.push_str("  </testsuite>\n");
    Ok(())
}

/// A console log for `<system-out>`: whole up to [`LOG_LIMIT`] bytes, else its end (the board's own
/// log file keeps everything).
fn log_tail(log: &str) -> String {
    if log.len() <= LOG_LIMIT {
        return log.to_owned();
    }
    let mut cut = log.len() - LOG_LIMIT;
    while !log.is_char_boundary(cut) {
        cut += 1;
    }
    format!(
        "[… {cut} bytes before; the whole log is in the board's console.log]\n{}",
        &log[cut..]
    )
}

/// One `<testcase>`.
fn testcase(x: &mut String, class: &str, case: &CaseResult) -> fmt::Result {
    write!(
        x,
        r#"    <testcase classname="{}" name="{}" time="{}""#,
        escape(class),
        escape(&format!("{}: {}", case.id, case.title)),
        secs(case.duration)
    )?;
    match &case.verdict {
        Verdict::Pass => x.push_str("/>\n"),
        // A crash is a JUnit error: the test could not complete, the device went down under it.
        Verdict::Fail(detail) | Verdict::Crashed(detail) => {
            let (element, kind) = match case.verdict {
                Verdict::Crashed(_) => ("error", "crashed"),
                _ => ("failure", "conformance"),
            };
            let body = format!(
                "{detail}\n\nTranscript ({} exchanges):\n{}",
                case.transcript.len(),
                text_transcript(&case.transcript)
            );
            writeln!(
                x,
                ">\n      <{element} message=\"{}\" type=\"{kind}\">{}</{element}>\n    </testcase>",
                escape(&message(detail)),
                escape_text(&body)
            )?;
        }
        Verdict::Skip(why) => writeln!(
            x,
            ">\n      <skipped message=\"{}\"/>\n    </testcase>",
            escape(why)
        )?,
        Verdict::NotJudged(why) => writeln!(
            x,
            ">\n      <skipped message=\"not judged: {}\"/>\n    </testcase>",
            escape(why)
        )?,
    }
    Ok(())
}

/// The detail, cut to [`MESSAGE_LIMIT`] characters for the `message` attribute.
fn message(detail: &str) -> String {
    match detail.char_indices().nth(MESSAGE_LIMIT) {
        Some((cut, _)) => format!("{}…", &detail[..cut]),
        None => detail.to_owned(),
    }
}

/// Escapes text for a double-quoted XML 1.0 attribute value: markup characters become entities,
/// tab/LF/CR character references (so attribute-value normalisation keeps them), and characters
/// XML forbids are made [`visible`](super::visible).
fn escape(s: &str) -> String {
    escape_with(s, true)
}

/// Escapes text for XML 1.0 element content: like [`escape`], but tabs and line feeds stay
/// literal so the failure body reads as the transcript it is.
fn escape_text(s: &str) -> String {
    escape_with(s, false)
}

/// [`escape`] (`attribute`) or [`escape_text`].
fn escape_with(s: &str, attribute: bool) -> String {
    escape_markup(s, |c| match c {
        '\'' => Some("&apos;"),
        '\t' if attribute => Some("&#9;"),
        '\n' if attribute => Some("&#10;"),
        '\r' => Some("&#13;"),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{check_markup, sample, Element, NASTY_NOTE};
    use super::*;

    fn count(elements: &[Element], name: &str) -> usize {
        elements.iter().filter(|e| e.name == name).count()
    }

    fn num(e: &Element, attr: &str) -> usize {
        e.attr(attr)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("<{}> has no numeric {attr}", e.name))
    }

    #[test]
    fn xml_is_well_formed_and_counts_match_the_verdicts() {
        let run = sample();
        let xml = render(&run).unwrap();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
        let el = check_markup(&xml, &[]).unwrap_or_else(|e| panic!("{e}\n{xml}"));

        let root = &el[0];
        assert_eq!(root.name, "testsuites");
        let t = run.tally();
        assert_eq!((t.pass, t.fail, t.skip), (4, 1, 2));
        assert_eq!(num(root, "tests"), 7);
        assert_eq!(num(root, "failures"), t.fail);
        assert_eq!(num(root, "skipped"), t.skip);
        assert_eq!(num(root, "errors"), 0);
        assert_eq!(root.attr("time"), Some("1.234"));

        assert_eq!(count(&el, "testsuite"), 2);
        assert_eq!(count(&el, "testcase"), 7);
        assert_eq!(count(&el, "failure"), 1);
        assert_eq!(count(&el, "skipped"), 2);

        let suites: Vec<_> = el.iter().filter(|e| e.name == "testsuite").collect();
        for (s, col) in suites.iter().zip(&run.columns) {
            let t = col.tally();
            assert_eq!(s.attr("name"), Some(col.column.label().as_str()));
            assert_eq!(num(s, "tests"), col.results.len());
            assert_eq!(num(s, "failures"), t.fail);
            assert_eq!(num(s, "skipped"), t.skip);
        }
        assert_eq!(suites[0].attr("name"), Some("sim/http/sec2"));
        assert_eq!(suites[1].attr("name"), Some("sim/console/sec1"));
    }

    #[test]
    fn testcases_are_named_by_column_group_id_and_title() {
        let el = check_markup(&render(&sample()).unwrap(), &[]).unwrap();
        let case = el
            .iter()
            .find(|e| e.name == "testcase" && e.attr("classname") == Some("sim/http/sec2.session"))
            .unwrap();
        assert_eq!(
            case.attr("name"),
            Some("SEC2-HANDSHAKE: handshake completes")
        );
        assert_eq!(case.attr("time"), Some("0.012"));
        let failing = el.iter().position(|e| e.name == "failure").unwrap();
        assert_eq!(
            el[failing - 1].attr("name"),
            Some("SEC2-POP-WRONG: wrong PoP | rejected &lt;b&gt;")
        );
        assert_eq!(
            el[failing].attr("message"),
            Some("expected status 0x03, got &lt;none&gt; &amp; &quot;closed&quot;␇")
        );
    }

    #[test]
    fn failure_body_has_the_escaped_transcript() {
        let xml = render(&sample()).unwrap();
        assert!(!xml.contains(NASTY_NOTE));
        assert!(!xml.contains("<&>"));
        assert!(!xml.contains("<eof>"));
        assert!(!xml.contains('\u{1}') && !xml.contains('\u{7}'));
        assert!(xml.contains("note: pop check &lt;&amp;&gt;&quot; ␁bell"));
        assert!(xml.contains("\n#1 +3ms -&gt; prov-session [session 1] 0802ab\n"));
        assert!(xml.contains("\n    &lt;- 08025acd\n"));
        assert!(xml.contains("&lt;- no response (connection closed &lt;eof&gt;)"));
        assert!(xml.contains(&format!("{}… (1000 bytes)", "42".repeat(512))));
        assert!(!xml.contains(&"42".repeat(513)));
    }

    #[test]
    fn skips_carry_their_reason() {
        let xml = render(&sample()).unwrap();
        assert!(xml.contains(r#"<skipped message="security 2 only &lt;sec2&gt;"/>"#));
        assert!(xml.contains(r#"<skipped message="HTTP only"/>"#));
    }

    #[test]
    fn escaping() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(escape("l1\nl2\tx\r"), "l1&#10;l2&#9;x&#13;");
        assert_eq!(escape_text("l1\nl2\tx\r<"), "l1\nl2\tx&#13;&lt;");
        assert_eq!(escape("\u{0}\u{1b}\u{ffff}"), "␀␛\u{fffd}");
        assert_eq!(
            message(&"x".repeat(1500)).chars().count(),
            MESSAGE_LIMIT + 1
        );
        assert_eq!(message("short"), "short");
    }

    #[test]
    fn the_checker_rejects_malformed_markup() {
        assert!(check_markup("<a><b></b></a>", &[]).is_ok());
        assert!(check_markup("<a><b></a></b>", &[]).is_err());
        assert!(check_markup("<a>", &[]).is_err());
        assert!(check_markup("<a>x & y</a>", &[]).is_err());
        assert!(check_markup("<a>&bogus;</a>", &[]).is_err());
        assert!(check_markup("<a x=\"<\"/>", &[]).is_err());
        assert!(check_markup("<a x=y/>", &[]).is_err());
        assert!(check_markup("<a>\u{1}</a>", &[]).is_err());
    }

    #[test]
    fn a_board_column_is_classed_by_chip_and_carries_its_log() {
        let mut run = sample();
        run.columns[0].board = Some(crate::model::BoardReport {
            id: "c3-01".into(),
            chip: "esp32c3".into(),
            properties: vec![("flash_ms".into(), "20512".into())],
            log:
                "[   0.001] ESP-ROM:esp32c3\r\n\u{1b}[0;32mI (1045) wifi_prov_mgr: ready\u{1b}[0m\n"
                    .into(),
        });
        let xml = render(&run).unwrap();
        let el = check_markup(&xml, &[]).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let classes: Vec<&str> = el
            .iter()
            .filter(|e| e.name == "testcase")
            .filter_map(|e| e.attr("classname"))
            .collect();
        assert_eq!(&classes[..3], ["esp32c3.http"; 3]);
        assert!(classes[3].starts_with("sim/console/sec1."), "{classes:?}");
        let prop = |name: &str| {
            el.iter()
                .find(|e| e.name == "property" && e.attr("name") == Some(name))
                .and_then(|e| e.attr("value"))
        };
        assert_eq!(prop("board"), Some("c3-01"));
        assert_eq!(prop("flash_ms"), Some("20512"));
        assert_eq!(count(&el, "system-out"), 1);
        assert!(xml.contains("wifi_prov_mgr: ready"));
        assert!(log_tail(&"x".repeat(LOG_LIMIT + 10)).starts_with("[… 10 bytes before"));
    }

    #[test]
    fn empty_run_is_still_valid() {
        let mut run = sample();
        run.columns.clear();
        let xml = render(&run).unwrap();
        let el = check_markup(&xml, &[]).unwrap();
        assert_eq!(el.len(), 1);
        assert_eq!(num(&el[0], "tests"), 0);
    }
}
