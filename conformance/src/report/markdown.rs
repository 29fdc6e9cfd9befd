//! Markdown summary: run info, totals per column, the verdict matrix (✅ pass, ❌ fail, 💥 crashed,
//! ⊘ not judged, – skip, blank when a column did not run the case) and every failure's detail.
//!
//! Tables are padded to equal widths (counting ✅/❌ and East Asian wide characters as two
//! columns), so `summary.md` reads well in a terminal as well as on a forge. Text from the run is
//! backslash-escaped in tables and headings (no raw HTML, no broken `|` columns); failure details
//! go into fenced code blocks, verbatim apart from control characters.

use std::fmt::{self, Write as _};

use super::{by_id, case_rows, human_duration, visible, HTML_FILE, JUNIT_FILE};
use crate::model::{RunReport, Verdict};

/// Renders the whole summary.
pub(super) fn render(run: &RunReport) -> Result<String, fmt::Error> {
    let mut md = String::with_capacity(4096);
    let t = run.tally();
    let rows = case_rows(run);
    let outcome = if t.failing() == 0 { "PASS" } else { "FAIL" };
    writeln!(md, "# Conformance report: {outcome}\n")?;
    writeln!(
        md,
        "{} passed, {} failed, {} crashed, {} not judged, {} skipped (not applicable); {} cases over {} columns.\n",
        t.pass,
        t.fail,
        t.crashed,
        t.not_judged,
        t.skip,
        rows.len(),
        run.columns.len()
    )?;
    if let Some(crashes) = run.crash_summary() {
        writeln!(md, "**The {}.**\n", inline(&crashes))?;
    }
    writeln!(md, "- Tool: {}", inline(&run.tool))?;
    writeln!(md, "- Started: {}", inline(&run.started))?;
    writeln!(md, "- Wall time: {}", human_duration(run.duration))?;
    match &run.filter {
        Some(f) => writeln!(md, "- Filter: {}\n", inline(f))?,
        None => writeln!(md, "- Filter: none (every case)\n")?,
    }

    md.push_str("## Totals\n\n");
    let mut totals = Vec::new();
    for col in &run.columns {
        let c = col.tally();
        totals.push(vec![
            inline(&col.column.label()),
            inline(&col.column.profile),
            c.pass.to_string(),
            c.fail.to_string(),
            c.crashed.to_string(),
            c.not_judged.to_string(),
            c.skip.to_string(),
            human_duration(col.duration),
        ]);
    }
    totals.push(vec![
        "all".to_owned(),
        String::new(),
        t.pass.to_string(),
        t.fail.to_string(),
        t.crashed.to_string(),
        t.not_judged.to_string(),
        t.skip.to_string(),
        human_duration(run.duration),
    ]);
    let header = [
        "Column",
        "Profile",
        "Pass",
        "Fail",
        "Crash",
        "Not judged",
        "Skip",
        "Time",
    ]
    .map(String::from);
    use Align::{Left as L, Right as R};
    table(&mut md, &header, &[L, L, R, R, R, R, R, R], &totals)?;
    boards(&mut md, run)?;

    md.push_str("\n## Matrix\n\n");
    md.push_str(
        "✅ pass · ❌ fail · 💥 crashed · ⊘ not judged · – skip (not applicable) · blank: not run in that column\n\n",
    );
    let columns: Vec<_> = run.columns.iter().map(by_id).collect();
    let mut header = vec!["Case".to_owned(), "Group".to_owned(), "Title".to_owned()];
    header.extend(run.columns.iter().map(|c| inline(&c.column.label())));
    let mut align = vec![L, L, L];
    align.extend(run.columns.iter().map(|_| Align::Center));
    let matrix: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let mut cells = vec![inline(row.id), inline(row.group), inline(row.title)];
            cells.extend(columns.iter().map(|col| {
                let symbol = match col.get(row.id).map(|r| &r.verdict) {
                    Some(Verdict::Pass) => "✅",
                    Some(Verdict::Fail(_)) => "❌",
                    Some(Verdict::Skip(_)) => "–",
                    Some(Verdict::Crashed(_)) => "💥",
                    Some(Verdict::NotJudged(_)) => "⊘",
                    None => "",
                };
                symbol.to_owned()
            }));
            cells
        })
        .collect();
    table(&mut md, &header, &align, &matrix)?;

    md.push_str("\n## Failures\n\n");
    if t.failing() == 0 {
        md.push_str("None: every case that applied passed.\n");
        return not_judged(&mut md, run);
    }
    for col in run.columns.iter().filter(|c| c.tally().failing() > 0) {
        writeln!(md, "### {}\n", inline(&col.column.label()))?;
        for case in &col.results {
            let (Verdict::Fail(detail) | Verdict::Crashed(detail)) = &case.verdict else {
                continue;
            };
            let crashed = if matches!(case.verdict, Verdict::Crashed(_)) {
                " · **device crashed**"
            } else {
                ""
            };
            writeln!(
                md,
                "**{}** ({}): {} · {}{crashed}\n",
                inline(&case.id),
                inline(&case.group),
                inline(&case.title),
                human_duration(case.duration)
            )?;
            code_block(&mut md, detail)?;
            md.push('\n');
        }
    }
    writeln!(
        md,
        "Request/response transcripts of every failure: `{HTML_FILE}` and `{JUNIT_FILE}`."
    )?;
    not_judged(&mut md, run)
}

/// The "Boards" section of a HIL run: each board's chip and what was done to it, per column.
fn boards(md: &mut String, run: &RunReport) -> fmt::Result {
    let rows: Vec<Vec<String>> = run
        .columns
        .iter()
        .filter_map(|c| {
            let b = c.board.as_ref()?;
            let facts: Vec<String> = b
                .properties
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            Some(vec![
                inline(&b.id),
                inline(&b.chip),
                inline(&c.column.label()),
                inline(&facts.join(", ")),
            ])
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    md.push_str("\n## Boards\n\n");
    let header = ["Board", "Chip", "Column", "Facts"].map(String::from);
    table(md, &header, &[Align::Left; 4], &rows)
}

/// The "Not judged" section, when some verdicts could not be given: one line per distinct reason.
fn not_judged(md: &mut String, run: &RunReport) -> Result<String, fmt::Error> {
    let mut reasons: Vec<(String, &str, usize)> = Vec::new();
    for col in &run.columns {
        for case in &col.results {
            if let Verdict::NotJudged(why) = &case.verdict {
                let label = col.column.label();
                match reasons
                    .iter_mut()
                    .find(|(l, w, _)| *l == label && *w == why)
                {
                    Some(r) => r.2 += 1,
                    None => reasons.push((label, why, 1)),
                }
            }
        }
    }
    if !reasons.is_empty() {
        md.push_str("\n## Not judged\n\n");
        for (label, why, n) in reasons {
            writeln!(md, "- {} ({n} cases): {}", inline(&label), inline(why))?;
        }
    }
    Ok(std::mem::take(md))
}

/// Column alignment in a table.
#[derive(Clone, Copy)]
enum Align {
    Left,
    Center,
    Right,
}

/// Writes a GitHub-flavoured Markdown table with every column padded to its widest cell.
fn table(
    out: &mut String,
    header: &[String],
    align: &[Align],
    rows: &[Vec<String>],
) -> fmt::Result {
    let mut widths: Vec<usize> = header.iter().map(|h| width(h).max(3)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let line = |out: &mut String, cells: &[String]| -> fmt::Result {
        out.push('|');
        for ((cell, &w), &a) in cells.iter().zip(&widths).zip(align) {
            let gap = w.saturating_sub(width(cell));
            let (before, after) = match a {
                Align::Left => (0, gap),
                Align::Center => (gap / 2, gap - gap / 2),
                Align::Right => (gap, 0),
            };
            write!(out, " {:before$}{cell}{:after$} |", "", "")?;
        }
        out.push('\n');
        Ok(())
    };
    line(out, header)?;
    out.push('|');
    for (&w, &a) in widths.iter().zip(align) {
        let rule = match a {
            Align::Left => format!(":{}", "-".repeat(w - 1)),
            Align::Center => format!(":{}:", "-".repeat(w - 2)),
            Align::Right => format!("{}:", "-".repeat(w - 1)),
        };
        write!(out, " {rule} |")?;
    }
    out.push('\n');
    for row in rows {
        line(out, row)?;
    }
    Ok(())
}

/// Terminal width of `s`: two columns for ✅/❌ and East Asian wide characters, one otherwise.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| match c {
            '✅'
            | '❌'
            | '\u{1100}'..='\u{115f}'
            | '\u{2e80}'..='\u{a4cf}'
            | '\u{ac00}'..='\u{d7a3}'
            | '\u{f900}'..='\u{faff}'
            | '\u{fe30}'..='\u{fe4f}'
            | '\u{ff00}'..='\u{ff60}'
            | '\u{ffe0}'..='\u{ffe6}'
            | '\u{1f300}'..='\u{1faff}'
            | '\u{20000}'..='\u{3fffd}' => 2,
            _ => 1,
        })
        .sum()
}

/// Escapes run text for a table cell or a line of prose: one line, no raw HTML, no emphasis, no
/// column breaks. Characters Markdown could interpret are backslash-escaped.
fn inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match visible(c) {
            '\n' | '\r' | '\t' => out.push(' '),
            c @ ('\\' | '|' | '<' | '>' | '*' | '_' | '`' | '[' | ']' | '&' | '~') => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Writes `text` as a fenced code block whose fence is longer than any backtick run in it.
fn code_block(out: &mut String, text: &str) -> fmt::Result {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let body: String = text.replace("\r\n", "\n").chars().map(visible).collect();
    let newline = if body.ends_with('\n') { "" } else { "\n" };
    writeln!(out, "{fence}text\n{body}{newline}{fence}")
}

#[cfg(test)]
mod tests {
    use super::super::test_support::sample;
    use super::*;

    /// The lines of the section under `## {title}`.
    fn section<'a>(md: &'a str, title: &str) -> Vec<&'a str> {
        md.split(&format!("\n## {title}\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no section {title}"))
            .split("\n## ")
            .next()
            .unwrap()
            .lines()
            .collect()
    }

    /// Cells of a table line, splitting on unescaped `|`.
    fn cells(line: &str) -> Vec<String> {
        let mut cells = vec![String::new()];
        let mut escaped = false;
        for c in line.trim().trim_matches('|').chars() {
            match c {
                '|' if !escaped => cells.push(String::new()),
                c => cells.last_mut().unwrap().push(c),
            }
            escaped = c == '\\' && !escaped;
        }
        cells.iter().map(|c| c.trim().to_owned()).collect()
    }

    #[test]
    fn matrix_has_one_row_per_case_id_and_one_cell_per_column() {
        let run = sample();
        let md = render(&run).unwrap();
        let lines: Vec<_> = section(&md, "Matrix")
            .into_iter()
            .filter(|l| l.starts_with('|'))
            .collect();
        let header = cells(lines[0]);
        assert_eq!(
            header,
            [
                "Case",
                "Group",
                "Title",
                "sim/http/sec2",
                "sim/console/sec1"
            ]
        );
        assert!(cells(lines[1]).iter().all(|c| c.contains("---")));
        let body: Vec<_> = lines[2..].iter().map(|l| cells(l)).collect();
        let ids: Vec<_> = body.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(
            ids,
            ["SEC2-HANDSHAKE", "SEC2-POP-WRONG", "HTTP-404", "CON-ECHO"]
        );
        for row in &body {
            assert_eq!(row.len(), header.len(), "{row:?}");
        }
        assert_eq!(body[0][3..], ["✅", "–"]);
        assert_eq!(body[1][2], r"wrong PoP \| rejected \<b\>");
        assert_eq!(body[1][3..], ["❌", "✅"]);
        assert_eq!(body[2][3..], ["✅", "–"]);
        assert_eq!(body[3][3..], ["", "✅"]);
        // Padded: every table line has the same terminal width.
        let w = width(lines[0]);
        assert!(lines.iter().all(|l| width(l) == w), "{lines:#?}");
    }

    #[test]
    fn header_and_totals() {
        let md = render(&sample()).unwrap();
        assert!(md.starts_with("# Conformance report: FAIL\n"));
        assert!(
            md.contains("4 passed, 1 failed, 0 crashed, 0 not judged, 2 skipped (not applicable); 4 cases over 2 columns.")
        );
        assert!(md.contains("- Tool: provlab-conformance 0.1.0\n"));
        assert!(md.contains("- Started: 2025-01-02T03:04:05Z\n"));
        assert!(md.contains("- Wall time: 1.23 s\n"));
        assert!(md.contains(r"- Filter: SEC2-\*"));
        let totals: Vec<_> = section(&md, "Totals")
            .into_iter()
            .filter(|l| l.starts_with('|'))
            .map(cells)
            .collect();
        assert_eq!(totals.len(), 5);
        assert_eq!(
            totals[2],
            [
                "sim/http/sec2",
                "esp-idf-5.5",
                "2",
                "1",
                "0",
                "0",
                "0",
                "800 ms"
            ]
        );
        assert_eq!(
            totals[3],
            [
                "sim/console/sec1",
                "esp-idf-5.5",
                "2",
                "0",
                "0",
                "0",
                "2",
                "400 ms"
            ]
        );
        assert_eq!(totals[4], ["all", "", "4", "1", "0", "0", "2", "1.23 s"]);
    }

    #[test]
    fn failures_list_each_failing_case_with_its_detail() {
        let md = render(&sample()).unwrap();
        let failures = section(&md, "Failures").join("\n");
        assert!(failures.contains("### sim/http/sec2\n"));
        assert!(!failures.contains("### sim/console/sec1"));
        assert!(
            failures.contains(r"**SEC2-POP-WRONG** (session): wrong PoP \| rejected \<b\> · 40 ms")
        );
        assert!(failures.contains("```text\nexpected status 0x03, got <none> & \"closed\"␇\n```"));
        assert!(!md.contains('\u{7}'));
    }

    #[test]
    fn all_green_run_says_so() {
        let mut run = sample();
        run.columns.truncate(1);
        run.columns[0].results.remove(1);
        let md = render(&run).unwrap();
        assert!(md.starts_with("# Conformance report: PASS\n"));
        assert!(md.contains("## Failures\n\nNone"));
    }

    #[test]
    fn helpers() {
        assert_eq!(inline("a|b\n<c> *d* _e_"), r"a\|b \<c\> \*d\* \_e\_");
        assert_eq!(width("✅ –"), 4);
        let mut out = String::new();
        code_block(&mut out, "has ``` inside").unwrap();
        assert_eq!(out, "````text\nhas ``` inside\n````\n");
    }
}
