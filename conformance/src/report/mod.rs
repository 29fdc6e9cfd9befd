//! Reports rendered from a run.
//!
//! Four files per run, all derived from one [`RunReport`]:
//! - `junit.xml` ([`render_junit`]): JUnit XML for CI test reporters (GitLab, Jenkins, GitHub), one
//!   test suite per matrix column, failures carrying a text transcript of the case;
//! - `summary.md` ([`render_markdown`]): totals, the verdict matrix and the failures, readable on a
//!   forge and in a terminal;
//! - `matrix.html` ([`render_html`]): one self-contained page (inline CSS, no script needed) with the
//!   colour-coded matrix and, for every failure, the full request/response transcript;
//! - `run.json`: the run itself (serde), so it can be kept, diffed or re-rendered;
//! - `self-check.md` ([`render_self_check`]): the self-check's table, when one ran.
//!
//! The renderers are pure functions of the run. [`write_all`] renders everything first and then
//! replaces each file atomically (temporary file in the same directory, then rename), so an
//! interrupted run never leaves a half-written report behind.
//!
//! Bodies are shown in hex, at most [`HEX_LIMIT`] bytes each, so reports stay bounded; characters
//! that XML 1.0 or HTML forbid (control characters in notes or details) are shown as Unicode control
//! pictures (`␇`) or U+FFFD.

mod html;
mod junit;
mod markdown;
mod selfcheck;

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::model::{Answer, CaseResult, ColumnReport, Exchange, RunReport, SelfCheckRow};

/// File name of the JUnit XML report inside the report directory.
pub const JUNIT_FILE: &str = "junit.xml";
/// File name of the Markdown summary inside the report directory.
pub const MARKDOWN_FILE: &str = "summary.md";
/// File name of the HTML matrix inside the report directory.
pub const HTML_FILE: &str = "matrix.html";
/// File name of the JSON dump of the run inside the report directory.
pub const JSON_FILE: &str = "run.json";

/// File name of the self-check table inside the report directory.
pub const SELF_CHECK_FILE: &str = "self-check.md";

/// Bodies longer than this many bytes are shown cut, followed by `… (N bytes)`.
pub const HEX_LIMIT: usize = 512;

/// Paths of the files [`write_all`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// `junit.xml`: JUnit XML for CI test reporters.
    pub junit: PathBuf,
    /// `summary.md`: Markdown summary.
    pub markdown: PathBuf,
    /// `matrix.html`: self-contained HTML matrix with failure transcripts.
    pub html: PathBuf,
    /// `run.json`: the run as pretty-printed JSON.
    pub json: PathBuf,
}

/// Creates `dir` (and its parents) and writes `junit.xml`, `summary.md`, `matrix.html` and
/// `run.json` into it.
///
/// Everything is rendered before the first file is touched, and each file is written to a
/// temporary name in `dir`, flushed to disk and renamed over the old one: a reader (or a crashed
/// run) sees either the previous file or the complete new one, never a partial one.
///
/// # Errors
///
/// Any I/O error creating the directory or writing, syncing or renaming a file. The temporary file
/// of the failing write is removed; files already replaced stay replaced.
pub fn write_all(run: &RunReport, dir: &Path) -> io::Result<Written> {
    let junit = render_junit(run);
    let markdown = render_markdown(run);
    let html = render_html(run);
    let mut json = serde_json::to_string_pretty(run).map_err(io::Error::other)?;
    json.push('\n');
    fs::create_dir_all(dir)?;
    Ok(Written {
        junit: write_atomic(dir, JUNIT_FILE, junit.as_bytes())?,
        markdown: write_atomic(dir, MARKDOWN_FILE, markdown.as_bytes())?,
        html: write_atomic(dir, HTML_FILE, html.as_bytes())?,
        json: write_atomic(dir, JSON_FILE, json.as_bytes())?,
    })
}

/// Renders the run as JUnit XML: `<testsuites>` with one `<testsuite>` per column (named by
/// [`Column::label`](crate::model::Column::label)) and one `<testcase>` per case; failures carry
/// the detail and a hex transcript, skips their reason.
pub fn render_junit(run: &RunReport) -> String {
    finish(junit::render(run))
}

/// Renders the run as a Markdown summary: run info, totals per column, the verdict matrix
/// (✅ pass, ❌ fail, – skip) and the failure details.
pub fn render_markdown(run: &RunReport) -> String {
    finish(markdown::render(run))
}

/// Renders the run as one self-contained HTML page: the colour-coded matrix, grouped by case
/// group, with every failing cell linking to its detail and full transcript further down.
pub fn render_html(run: &RunReport) -> String {
    finish(html::render(run))
}

/// Renders the self-check as a Markdown table (also readable in a terminal): each misbehaviour, its
/// verdict, and the cases (with their columns) that caught it.
/// `external`, when given, is the self-check against the simulator as an external process.
pub fn render_self_check(rows: &[SelfCheckRow], external: Option<&[SelfCheckRow]>) -> String {
    selfcheck::render(rows, external)
}

/// Writes [`render_self_check`] to `dir/self-check.md` (atomically, as [`write_all`]).
pub fn write_self_check(
    rows: &[SelfCheckRow],
    external: Option<&[SelfCheckRow]>,
    dir: &Path,
) -> io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    write_atomic(
        dir,
        SELF_CHECK_FILE,
        render_self_check(rows, external).as_bytes(),
    )
}

/// Unwraps a renderer's result: renderers only write into a `String`, which cannot fail.
fn finish(rendered: Result<String, fmt::Error>) -> String {
    rendered.unwrap_or_else(|_| unreachable!("formatting into a String does not fail"))
}

/// Writes `contents` to `dir/name` through a temporary file in `dir` and a rename.
fn write_atomic(dir: &Path, name: &str, contents: &[u8]) -> io::Result<PathBuf> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let target = dir.join(name);
    let tmp = dir.join(format!(
        ".{name}.{}-{}.tmp",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(contents)?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, &target));
    match result {
        Ok(()) => Ok(target),
        Err(e) => {
            // Best effort: the temporary file may not even exist.
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// One row of the matrix: a case ID, with group and title as first seen in any column.
struct CaseRow<'a> {
    id: &'a str,
    group: &'a str,
    title: &'a str,
}

/// Every case ID of the run once, in order of first appearance (catalogue order, then cases only
/// some later column ran).
fn case_rows(run: &RunReport) -> Vec<CaseRow<'_>> {
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for r in run.columns.iter().flat_map(|c| &c.results) {
        if seen.insert(r.id.as_str()) {
            rows.push(CaseRow {
                id: &r.id,
                group: &r.group,
                title: &r.title,
            });
        }
    }
    rows
}

/// A column's results by case ID (the first one, should an ID repeat).
fn by_id(col: &ColumnReport) -> HashMap<&str, &CaseResult> {
    let mut map = HashMap::new();
    for r in &col.results {
        map.entry(r.id.as_str()).or_insert(r);
    }
    map
}

/// Hex of `bytes`, cut after [`HEX_LIMIT`] bytes with `… (N bytes)`; `(empty)` for no bytes.
fn hex_bounded(bytes: &[u8]) -> String {
    match bytes.len() {
        0 => "(empty)".to_owned(),
        n if n <= HEX_LIMIT => hex::encode(bytes),
        n => format!("{}… ({n} bytes)", hex::encode(&bytes[..HEX_LIMIT])),
    }
}

/// Seconds with millisecond precision, as JUnit wants them: `0.042`.
fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// Duration for people: `42 ms`, `1.23 s`, `2 min 05 s`.
fn human_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d < Duration::from_secs(60) {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{} min {:02} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// Maps characters that XML 1.0 forbids or HTML calls control characters to something visible:
/// C0 controls (except tab, LF, CR) and DEL become their Unicode control pictures (`␀`…`␟`, `␡`),
/// C1 controls and the non-characters U+FFFE/U+FFFF become U+FFFD. Everything else is unchanged.
fn visible(c: char) -> char {
    match c {
        '\t' | '\n' | '\r' => c,
        '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + u32::from(c)).unwrap_or('\u{fffd}'),
        '\u{7f}' => '\u{2421}',
        '\u{80}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
        _ => c,
    }
}

/// Makes `s` [`visible`] and escapes `&`, `<`, `>` and `"` as entities; `extra` gives the escape of any
/// other character the format needs (HTML and XML differ on `'`, tabs and line ends).
fn escape_markup(s: &str, extra: impl Fn(char) -> Option<&'static str>) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars().map(visible) {
        match (c, extra(c)) {
            ('&', _) => out.push_str("&amp;"),
            ('<', _) => out.push_str("&lt;"),
            ('>', _) => out.push_str("&gt;"),
            ('"', _) => out.push_str("&quot;"),
            (_, Some(e)) => out.push_str(e),
            (c, None) => out.push(c),
        }
    }
    out
}

/// Plain-text transcript of a case, two to five lines per exchange:
///
/// ```text
/// #1 +3ms -> prov-session [session 1] 0802ab
///     plain: 1001
///     <- 08025acd
///     plain: 5202
///     note: what the step does
/// ```
fn text_transcript(transcript: &[Exchange]) -> String {
    let mut out = String::new();
    if transcript.is_empty() {
        out.push_str("(no exchanges recorded)\n");
    }
    for (i, ex) in transcript.iter().enumerate() {
        // Writing into a String cannot fail.
        let _ = write_exchange(&mut out, i + 1, ex);
    }
    out
}

/// One exchange of [`text_transcript`].
fn write_exchange(out: &mut String, n: usize, ex: &Exchange) -> fmt::Result {
    writeln!(
        out,
        "#{n} +{}ms -> {} [session {}] {}",
        ex.at_ms,
        ex.endpoint,
        ex.session,
        hex_bounded(&ex.request)
    )?;
    if let Some(plain) = &ex.request_plain {
        writeln!(out, "    plain: {}", hex_bounded(plain))?;
    }
    match &ex.answer {
        Answer::Data(body) => writeln!(out, "    <- {}", hex_bounded(body))?,
        Answer::NoResponse(why) => writeln!(out, "    <- no response ({why})")?,
    }
    if let Some(plain) = &ex.answer_plain {
        writeln!(out, "    plain: {}", hex_bounded(plain))?;
    }
    if !ex.note.is_empty() {
        writeln!(out, "    note: {}", ex.note.replace('\n', "\n          "))?;
    }
    Ok(())
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests {
    use super::test_support::sample;
    use super::*;

    #[test]
    fn hex_is_bounded() {
        assert_eq!(hex_bounded(&[]), "(empty)");
        assert_eq!(hex_bounded(&[0xde, 0xad]), "dead");
        let long = hex_bounded(&[0xab; 1000]);
        assert!(long.ends_with("… (1000 bytes)"));
        assert_eq!(long.matches("ab").count(), HEX_LIMIT);
    }

    #[test]
    fn control_characters_become_visible() {
        assert_eq!(visible('\u{1}'), '␁');
        assert_eq!(visible('\u{7}'), '␇');
        assert_eq!(visible('\u{7f}'), '␡');
        assert_eq!(visible('\u{85}'), '\u{fffd}');
        assert_eq!(visible('\n'), '\n');
        assert_eq!(visible('é'), 'é');
    }

    #[test]
    fn durations() {
        assert_eq!(secs(Duration::from_millis(42)), "0.042");
        assert_eq!(human_duration(Duration::from_millis(42)), "42 ms");
        assert_eq!(human_duration(Duration::from_millis(1234)), "1.23 s");
        assert_eq!(human_duration(Duration::from_secs(125)), "2 min 05 s");
    }

    #[test]
    fn rows_are_the_union_of_case_ids_in_first_seen_order() {
        let run = sample();
        let ids: Vec<_> = case_rows(&run).iter().map(|r| r.id).collect();
        assert_eq!(
            ids,
            ["SEC2-HANDSHAKE", "SEC2-POP-WRONG", "HTTP-404", "CON-ECHO"]
        );
    }

    #[test]
    fn text_transcript_shows_both_directions() {
        let run = sample();
        let t = text_transcript(&run.columns[0].results[1].transcript);
        assert!(t.contains("#1 +3ms -> prov-session [session 1] 0802ab\n"));
        assert!(t.contains("    plain: 1001\n"));
        assert!(t.contains("    <- 08025acd\n"));
        assert!(t.contains("    <- no response (connection closed <eof>)\n"));
        assert!(t.contains("… (1000 bytes)"));
    }

    #[test]
    fn write_all_writes_four_complete_files_and_no_temporaries() {
        let run = sample();
        let dir = std::env::temp_dir().join(format!("provlab-report-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let nested = dir.join("a/b");
        let written = write_all(&run, &nested).expect("write report");
        assert_eq!(
            fs::read_to_string(&written.junit).unwrap(),
            render_junit(&run)
        );
        assert_eq!(
            fs::read_to_string(&written.markdown).unwrap(),
            render_markdown(&run)
        );
        assert_eq!(
            fs::read_to_string(&written.html).unwrap(),
            render_html(&run)
        );
        let json: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&written.json).unwrap()).unwrap();
        assert_eq!(json["columns"].as_array().map(Vec::len), Some(2));
        assert_eq!(json["duration"], 1234);
        // A second run replaces the files in place.
        write_all(&run, &nested).expect("rewrite report");
        let mut names: Vec<_> = fs::read_dir(&nested)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [JUNIT_FILE, HTML_FILE, JSON_FILE, MARKDOWN_FILE]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
