//! `matrix.html`: one self-contained page, inline CSS, no external resources and no script.
//!
//! Layout: a header with run info and per-column totals; the matrix (rows = cases grouped by
//! group, columns = device × transport × security as a three-level header), each cell coloured and
//! carrying its verdict word, with the case time (and skip reason or failure detail) as a tooltip;
//! a CSS-only checkbox that hides rows without failures; then one section per failure, anchored
//! from its cell, with the detail and the full transcript (hex, plaintexts, note, time, session)
//! inside a `<details>` element; for a HIL run, each board's facts and console log ([`boards`]). Every
//! piece of run text is escaped.

mod boards;

use std::collections::HashMap;
use std::fmt::{self, Write as _};

use super::{by_id, case_rows, escape_markup, hex_bounded, human_duration, CaseRow};
use crate::model::{Answer, CaseResult, ColumnReport, Exchange, RunReport, Verdict};

/// The page's style sheet (inline in the page). Colours follow the user's light/dark preference.
const STYLE: &str = include_str!("html.css");

/// Renders the whole page.
pub(super) fn render(run: &RunReport) -> Result<String, fmt::Error> {
    let mut h = String::with_capacity(16 * 1024);
    let t = run.tally();
    let outcome = if t.failing() == 0 { "pass" } else { "fail" };
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n");
    writeln!(
        h,
        "<title>Conformance matrix: {} ({}, {})</title>",
        outcome.to_uppercase(),
        esc(&run.tool),
        esc(&run.started)
    )?;
    writeln!(h, "<style>{STYLE}</style>\n</head>\n<body>")?;
    header(&mut h, run)?;
    h.push_str("<main>\n");
    let rows = case_rows(run);
    matrix(&mut h, run, &rows)?;
    boards::section(&mut h, run)?;
    failures(&mut h, run, &rows)?;
    h.push_str("</main>\n</body>\n</html>\n");
    Ok(h)
}

/// Title, run info and the totals table.
fn header(h: &mut String, run: &RunReport) -> fmt::Result {
    let t = run.tally();
    let (class, word) = if t.failing() == 0 {
        ("pass", "PASS")
    } else {
        ("fail", "FAIL")
    };
    writeln!(
        h,
        "<header>\n<h1>Conformance matrix <span class=\"badge {class}\">{word}</span></h1>"
    )?;
    writeln!(
        h,
        "<p><span class=\"badge pass\">{} pass</span> <span class=\"badge fail\">{} fail</span> \
         <span class=\"badge crash\">{} crashed</span> <span class=\"badge notjudged\">{} not judged</span> \
         <span class=\"badge skip\">{} skip</span> over {} columns</p>",
        t.pass,
        t.fail,
        t.crashed,
        t.not_judged,
        t.skip,
        run.columns.len()
    )?;
    if let Some(crashes) = run.crash_summary() {
        writeln!(h, "<p class=\"badge crash\">The {}.</p>", esc(&crashes))?;
    }
    writeln!(
        h,
        "<dl class=\"info\"><dt>Tool</dt><dd>{}</dd><dt>Started</dt><dd>{}</dd>\
         <dt>Wall time</dt><dd>{}</dd><dt>Filter</dt><dd>{}</dd></dl>",
        esc(&run.tool),
        esc(&run.started),
        human_duration(run.duration),
        run.filter
            .as_deref()
            .map_or_else(|| "none (every case)".to_owned(), esc)
    )?;
    h.push_str(
        "<table class=\"totals\">\n<thead><tr><th>Column</th><th>Device</th><th>Transport</th>\
         <th>Security</th><th>Profile</th><th>Pass</th><th>Fail</th><th>Crash</th><th>Not judged</th><th>Skip</th>\
         <th>Time</th></tr></thead>\n<tbody>\n",
    );
    for col in &run.columns {
        let c = col.tally();
        let k = &col.column;
        writeln!(
            h,
            "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"num{}\">{}</td><td class=\"num{}\">{}</td><td class=\"num{}\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&k.label()),
            esc(&k.device),
            esc(&k.transport),
            k.security,
            esc(&k.profile),
            if c.pass > 0 { " pass" } else { "" },
            c.pass,
            if c.fail > 0 { " fail" } else { "" },
            c.fail,
            if c.crashed > 0 { " crash" } else { "" },
            c.crashed,
            c.not_judged,
            c.skip,
            human_duration(col.duration)
        )?;
    }
    writeln!(
        h,
        "</tbody>\n<tfoot><tr><th colspan=\"5\">all</th><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         </tr></tfoot>\n</table>\n</header>",
        t.pass,
        t.fail,
        t.crashed,
        t.not_judged,
        t.skip,
        human_duration(run.duration)
    )
}

/// Anchor of the failure section of row `ri` in column `ci`.
fn anchor(ci: usize, ri: usize, id: &str) -> String {
    let slug: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("fail-{ci}-{ri}-{slug}")
}

/// Runs of equal keys: `(key, how many)`.
fn runs<K: PartialEq>(keys: impl IntoIterator<Item = K>) -> Vec<(K, usize)> {
    let mut out: Vec<(K, usize)> = Vec::new();
    for k in keys {
        match out.last_mut() {
            Some((last, n)) if *last == k => *n += 1,
            _ => out.push((k, 1)),
        }
    }
    out
}

/// The matrix table, its filter checkbox and legend.
fn matrix(h: &mut String, run: &RunReport, rows: &[CaseRow<'_>]) -> fmt::Result {
    h.push_str("<h2 id=\"matrix\">Matrix</h2>\n");
    if run.columns.is_empty() || rows.is_empty() {
        h.push_str("<p>No case was run.</p>\n");
        return Ok(());
    }
    h.push_str(
        "<p>Cells: verdict per case and column; hover for the case time and reason, \
         click a FAIL for its transcript. A dot means the column did not run the case.</p>\n\
         <input type=\"checkbox\" id=\"only-failing\"> \
         <label for=\"only-failing\">show only cases that failed somewhere</label>\n\
         <table class=\"matrix\">\n<thead>\n<tr><th rowspan=\"3\">Case</th>",
    );
    let cols = &run.columns;
    for (device, n) in runs(cols.iter().map(|c| &c.column.device)) {
        write!(h, "<th colspan=\"{n}\">{}</th>", esc(device))?;
    }
    h.push_str("</tr>\n<tr>");
    for ((_, transport), n) in runs(cols.iter().map(|c| (&c.column.device, &c.column.transport))) {
        write!(h, "<th colspan=\"{n}\">{}</th>", esc(transport))?;
    }
    h.push_str("</tr>\n<tr>");
    for c in cols {
        write!(
            h,
            "<th title=\"{} (profile {})\">sec{}</th>",
            esc(&c.column.label()),
            esc(&c.column.profile),
            c.column.security
        )?;
    }
    h.push_str("</tr>\n</thead>\n");

    let results: Vec<HashMap<&str, &CaseResult>> = cols.iter().map(by_id).collect();
    let failed_somewhere = |id: &str| {
        results
            .iter()
            .any(|m| m.get(id).is_some_and(|r| r.verdict.is_failure()))
    };
    let mut groups: Vec<&str> = Vec::new();
    for row in rows {
        if !groups.contains(&row.group) {
            groups.push(row.group);
        }
    }
    for group in groups {
        let members: Vec<_> = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.group == group)
            .collect();
        let class = if members.iter().any(|(_, r)| failed_somewhere(r.id)) {
            "group"
        } else {
            "group no-fail"
        };
        writeln!(
            h,
            "<tbody class=\"{class}\">\n<tr class=\"group\"><th colspan=\"{}\" scope=\"rowgroup\">{}</th></tr>",
            cols.len() + 1,
            esc(group)
        )?;
        for (ri, row) in members {
            let class = if failed_somewhere(row.id) {
                "case"
            } else {
                "case no-fail"
            };
            write!(
                h,
                "<tr class=\"{class}\" id=\"row-{ri}\"><th class=\"case\" scope=\"row\"><code>{}</code>{}</th>",
                esc(row.id),
                esc(row.title)
            )?;
            for (ci, col) in results.iter().enumerate() {
                cell(h, col.get(row.id).copied(), &anchor(ci, ri, row.id))?;
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody>\n");
    }
    h.push_str("<tfoot><tr><th>pass / fail / crash / skip</th>");
    for c in cols {
        let t = c.tally();
        write!(
            h,
            "<td>{} / {} / {} / {}</td>",
            t.pass, t.fail, t.crashed, t.skip
        )?;
    }
    h.push_str("</tr></tfoot>\n</table>\n");
    Ok(())
}

/// One matrix cell.
fn cell(h: &mut String, result: Option<&CaseResult>, anchor: &str) -> fmt::Result {
    let Some(r) = result else {
        h.push_str("<td class=\"none\" title=\"not run in this column\">·</td>");
        return Ok(());
    };
    let time = human_duration(r.duration);
    match &r.verdict {
        Verdict::Pass => write!(h, "<td class=\"pass\" title=\"pass in {time}\">pass</td>"),
        Verdict::Skip(why) => write!(
            h,
            "<td class=\"skip\" title=\"skip ({time}): {}\">skip</td>",
            esc(&first_line(why))
        ),
        Verdict::Fail(detail) => write!(
            h,
            "<td class=\"fail\" title=\"FAIL in {time}: {}\"><a href=\"#{anchor}\">FAIL</a></td>",
            esc(&first_line(detail))
        ),
        Verdict::Crashed(detail) => write!(
            h,
            "<td class=\"crash\" title=\"CRASHED in {time}: {}\"><a href=\"#{anchor}\">CRASH</a></td>",
            esc(&first_line(detail))
        ),
        Verdict::NotJudged(why) => write!(
            h,
            "<td class=\"notjudged\" title=\"not judged: {}\">n/j</td>",
            esc(&first_line(why))
        ),
    }
}

/// The first line of `s`, at most 200 characters (for tooltips).
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

/// One section per failing cell, in matrix order (column by column).
fn failures(h: &mut String, run: &RunReport, rows: &[CaseRow<'_>]) -> fmt::Result {
    h.push_str("<h2 id=\"failures\">Failures</h2>\n");
    if run.tally().failing() == 0 {
        h.push_str("<p>None: every case that applied passed.</p>\n");
        return Ok(());
    }
    for (ci, col) in run.columns.iter().enumerate() {
        let results = by_id(col);
        for (ri, row) in rows.iter().enumerate() {
            if let Some(r) = results.get(row.id) {
                if let Verdict::Fail(detail) | Verdict::Crashed(detail) = &r.verdict {
                    failure(h, col, r, detail, &anchor(ci, ri, row.id), ri)?;
                }
            }
        }
    }
    Ok(())
}

/// The section of one failing case in one column.
fn failure(
    h: &mut String,
    col: &ColumnReport,
    r: &CaseResult,
    detail: &str,
    anchor: &str,
    ri: usize,
) -> fmt::Result {
    writeln!(
        h,
        "<section class=\"failure\" id=\"{anchor}\">\n<h3><code>{}</code> {}: {}</h3>",
        esc(&r.id),
        esc(&col.column.label()),
        esc(&r.title)
    )?;
    writeln!(
        h,
        "<p>Group {} · profile {} · {} · <a href=\"#row-{ri}\">back to the matrix</a></p>",
        esc(&r.group),
        esc(&col.column.profile),
        human_duration(r.duration)
    )?;
    writeln!(h, "<pre class=\"detail\">{}</pre>", esc(detail))?;
    writeln!(
        h,
        "<details>\n<summary>Transcript: {} exchange{}</summary>",
        r.transcript.len(),
        if r.transcript.len() == 1 { "" } else { "s" }
    )?;
    if r.transcript.is_empty() {
        h.push_str("<p>No exchange was recorded.</p>\n");
    }
    for (i, ex) in r.transcript.iter().enumerate() {
        exchange(h, i + 1, ex)?;
    }
    h.push_str("</details>\n</section>\n");
    Ok(())
}

/// One exchange of a transcript.
fn exchange(h: &mut String, n: usize, ex: &Exchange) -> fmt::Result {
    writeln!(
        h,
        "<div class=\"exchange\"><h4>#{n} · +{} ms · session {} · <code>{}</code></h4>\n<dl class=\"exchange\">",
        ex.at_ms,
        ex.session,
        esc(&ex.endpoint)
    )?;
    bytes(h, "→ request", &ex.request)?;
    if let Some(plain) = &ex.request_plain {
        bytes(h, "request plaintext", plain)?;
    }
    match &ex.answer {
        Answer::Data(body) => bytes(h, "← response", body)?,
        Answer::NoResponse(why) => writeln!(
            h,
            "<dt>← no response</dt><dd class=\"nr\">{}</dd>",
            esc(why)
        )?,
    }
    if let Some(plain) = &ex.answer_plain {
        bytes(h, "response plaintext", plain)?;
    }
    if !ex.note.is_empty() {
        writeln!(h, "<dt>note</dt><dd>{}</dd>", esc(&ex.note))?;
    }
    h.push_str("</dl></div>\n");
    Ok(())
}

/// A `<dt>`/`<dd>` pair with a byte count and the (bounded) hex.
fn bytes(h: &mut String, label: &str, b: &[u8]) -> fmt::Result {
    writeln!(
        h,
        "<dt>{label} ({} B)</dt><dd><code class=\"hex\">{}</code></dd>",
        b.len(),
        hex_bounded(b)
    )
}

/// Escapes text for HTML content and double- or single-quoted attribute values; control
/// characters are made [`visible`](super::visible).
fn esc(s: &str) -> String {
    escape_markup(s, |c| (c == '\'').then_some("&#39;"))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{check_markup, sample, Element, NASTY_NOTE};
    use super::*;

    const VOID: &[&str] = &["meta", "input", "br"];

    fn page() -> (String, Vec<Element>) {
        let html = render(&sample()).unwrap();
        let el = check_markup(&html, VOID).unwrap_or_else(|e| panic!("{e}\n{html}"));
        (html, el)
    }

    #[test]
    fn page_is_balanced_and_self_contained() {
        let (html, el) = page();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert_eq!(el[0].name, "html");
        for e in &el {
            assert!(
                !matches!(
                    e.name.as_str(),
                    "script" | "link" | "img" | "iframe" | "object"
                ),
                "external or scripted element <{}>",
                e.name
            );
            assert!(e.attr("src").is_none());
            if let Some(href) = e.attr("href") {
                assert!(href.starts_with('#'), "non-local link {href}");
            }
        }
        assert!(!html.contains("url("));
        assert!(!html.contains("@import"));
    }

    #[test]
    fn every_local_link_has_its_anchor() {
        let (_, el) = page();
        let ids: Vec<_> = el.iter().filter_map(|e| e.attr("id")).collect();
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "duplicate ids");
        let links: Vec<_> = el.iter().filter_map(|e| e.attr("href")).collect();
        assert!(!links.is_empty());
        for l in links {
            assert!(ids.contains(&&l[1..]), "dangling link {l}");
        }
    }

    #[test]
    fn failing_cell_links_to_its_transcript() {
        let (html, el) = page();
        let target = anchor(0, 1, "SEC2-POP-WRONG");
        assert_eq!(target, "fail-0-1-SEC2-POP-WRONG");
        assert!(html.contains(&format!("<a href=\"#{target}\">FAIL</a>")));
        let section = el
            .iter()
            .find(|e| e.attr("id") == Some(target.as_str()))
            .unwrap();
        assert_eq!(section.name, "section");
        let after = html.split(&format!("id=\"{target}\"")).nth(1).unwrap();
        let after = after.split("</section>").next().unwrap();
        assert!(after.contains("<details>"));
        assert!(after.contains("<pre class=\"detail\">expected status 0x03, got &lt;none&gt; &amp; &quot;closed&quot;␇</pre>"));
        assert!(after.contains("#1 · +3 ms · session 1 · <code>prov-session</code>"));
        assert!(
            after.contains("<dt>→ request (3 B)</dt><dd><code class=\"hex\">0802ab</code></dd>")
        );
        assert!(after
            .contains("<dt>request plaintext (2 B)</dt><dd><code class=\"hex\">1001</code></dd>"));
        assert!(
            after.contains("<dt>← response (4 B)</dt><dd><code class=\"hex\">08025acd</code></dd>")
        );
        assert!(after
            .contains("<dt>response plaintext (2 B)</dt><dd><code class=\"hex\">5202</code></dd>"));
        assert!(after
            .contains("<dt>← no response</dt><dd class=\"nr\">connection closed &lt;eof&gt;</dd>"));
        assert!(after.contains("<dt>note</dt><dd>pop check &lt;&amp;&gt;&quot; ␁bell</dd>"));
        assert!(after.contains(&format!("{}… (1000 bytes)", "42".repeat(512))));
        // Exactly one failure section.
        assert_eq!(
            el.iter()
                .filter(|e| e.attr("class") == Some("failure"))
                .count(),
            1
        );
    }

    #[test]
    fn everything_is_escaped() {
        let (html, _) = page();
        assert!(!html.contains(NASTY_NOTE));
        for raw in ["<&>", "<b>", "<none>", "<eof>", "<sec2>", "\u{1}", "\u{7}"] {
            assert!(!html.contains(raw), "raw {raw:?} in page");
        }
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }

    #[test]
    fn cells_carry_verdict_and_time() {
        let (html, el) = page();
        let cells: Vec<_> = el
            .iter()
            .filter(|e| e.name == "td" && e.attr("title").is_some())
            .collect();
        let class = |c: &str| cells.iter().filter(|e| e.attr("class") == Some(c)).count();
        assert_eq!(
            (class("pass"), class("fail"), class("skip"), class("none")),
            (4, 1, 2, 1)
        );
        assert!(html.contains("<td class=\"pass\" title=\"pass in 12 ms\">pass</td>"));
        assert!(html.contains(
            "<td class=\"skip\" title=\"skip (0 ms): security 2 only &lt;sec2&gt;\">skip</td>"
        ));
        assert!(html.contains("<td class=\"fail\" title=\"FAIL in 40 ms: expected status"));
    }

    #[test]
    fn rows_are_grouped_and_columns_split_by_device_transport_security() {
        let (html, el) = page();
        let groups: Vec<_> = el
            .iter()
            .filter(|e| e.attr("scope") == Some("rowgroup"))
            .map(|e| e.attr("colspan"))
            .collect();
        assert_eq!(groups, [Some("3"); 3]);
        let group_names: Vec<_> = html
            .match_indices("scope=\"rowgroup\">")
            .map(|(i, m)| html[i + m.len()..].split('<').next().unwrap())
            .collect();
        assert_eq!(group_names, ["session", "http", "console"]);
        assert_eq!(
            el.iter()
                .filter(|e| e.name == "tr" && e.attr("id").is_some_and(|i| i.starts_with("row-")))
                .count(),
            4
        );
        assert!(html.contains("<th colspan=\"2\">sim</th>"));
        assert!(html.contains("<th colspan=\"1\">http</th><th colspan=\"1\">console</th>"));
        assert!(html.contains(">sec2</th>") && html.contains(">sec1</th>"));
        // Only the session group has a failure; the CSS-only filter hides the others.
        assert_eq!(html.matches("<tbody class=\"group no-fail\">").count(), 2);
        assert!(html.contains("<tr class=\"case\" id=\"row-1\">"));
    }

    #[test]
    fn header_has_totals_and_run_info() {
        let (html, _) = page();
        assert!(html.contains("<span class=\"badge fail\">FAIL</span>"));
        assert!(
            html.contains("4 pass</span>")
                && html.contains("1 fail</span>")
                && html.contains("2 skip</span>")
        );
        assert!(html.contains("<dt>Tool</dt><dd>provlab-conformance 0.1.0</dd>"));
        assert!(html.contains("<dt>Filter</dt><dd>SEC2-*</dd>"));
        assert!(html.contains("<tr><th>sim/http/sec2</th>"));
    }

    #[test]
    fn empty_run_is_valid() {
        let mut run = sample();
        run.columns.clear();
        let html = render(&run).unwrap();
        check_markup(&html, VOID).unwrap();
        assert!(html.contains("No case was run."));
        assert!(html.contains("None: every case that applied passed."));
    }
}
