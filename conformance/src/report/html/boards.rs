//! The "Boards" section of a HIL run's page: per board and column, its chip, what was done to it
//! (flash and boot times, recoveries) and its console log, folded.

use std::fmt::{self, Write as _};

use super::esc;
use crate::model::RunReport;

/// Most console log shown per board on the page, in bytes (the end is kept; `console.log` has all).
const LOG_SHOWN: usize = 64 * 1024;

/// Writes the section, when the run has boards.
pub(super) fn section(h: &mut String, run: &RunReport) -> fmt::Result {
    let boards: Vec<_> = run
        .columns
        .iter()
        .filter_map(|c| c.board.as_ref().map(|b| (c, b)))
        .collect();
    if boards.is_empty() {
        return Ok(());
    }
    h.push_str("<h2 id=\"boards\">Boards</h2>\n");
    for (col, b) in boards {
        writeln!(
            h,
            "<section class=\"board\"><h3>{} <small>{} · {}</small></h3>",
            esc(&b.id),
            esc(&b.chip),
            esc(&col.column.label())
        )?;
        h.push_str("<dl class=\"info\">");
        for (k, v) in &b.properties {
            write!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v))?;
        }
        h.push_str("</dl>\n");
        let mut cut = b.log.len().saturating_sub(LOG_SHOWN);
        while !b.log.is_char_boundary(cut) {
            cut += 1;
        }
        let note = if cut > 0 {
            format!(" (last {} KiB)", LOG_SHOWN / 1024)
        } else {
            String::new()
        };
        writeln!(
            h,
            "<details><summary>Console log{note}</summary><pre class=\"log\">{}</pre></details></section>",
            esc(&b.log[cut..])
        )?;
    }
    Ok(())
}
