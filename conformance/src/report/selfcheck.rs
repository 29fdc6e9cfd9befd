//! `self-check.md`: the self-check's table, misbehaviour → the cases (and columns) that caught it.

use std::fmt::Write as _;

use crate::model::SelfCheckRow;

/// The table as Markdown (also readable in a terminal).
pub(super) fn render(rows: &[SelfCheckRow]) -> String {
    let mut s = String::from("# Self-check: simulator misbehaviour → cases that caught it\n\n");
    s.push_str("| misbehaviour | verdict | caught by (case IDs, columns) |\n|---|---|---|\n");
    for r in rows {
        let (name, what) = match r.misbehaviour {
            Some(m) => (m.name().to_owned(), m.description()),
            None => (
                "(well-behaved)".to_owned(),
                "no misbehaviour: every case must pass",
            ),
        };
        let verdict = match (r.misbehaviour, r.ok(), r.not_exercised) {
            (Some(_), _, Some(t)) => match t {
                "ble" => "not exercised: run with `--transport ble --ble-mtu 23`",
                _ => "not exercised: add its transport with `--transport`",
            },
            (None, true, _) => "all pass",
            (None, false, _) => "**FAILURES**",
            (Some(_), true, _) => "caught",
            (Some(_), false, _) => "**NOT CAUGHT**",
        };
        let cases = r
            .caught_by
            .iter()
            .map(|(id, cols)| format!("`{id}` ({})", cols.join(", ")))
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = writeln!(s, "| `{name}` — {what} | {verdict} | {cases} |");
    }
    s
}
