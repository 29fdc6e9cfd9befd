//! `self-check.md`: the self-check's table, misbehaviour → the cases (and columns) that caught it.

use std::fmt::Write as _;

use crate::model::SelfCheckRow;

/// The tables as Markdown (also readable in a terminal): the in-process self-check and, when it ran,
/// the one against the simulator as an external process.
pub(super) fn render(rows: &[SelfCheckRow], external: Option<&[SelfCheckRow]>) -> String {
    let mut s = String::from("# Self-check: simulator misbehaviour → cases that caught it\n\n");
    table(&mut s, rows);
    if let Some(ext) = external {
        s.push_str(
            "\n## The simulator as an external process\n\n`sim-device` over HTTP and over its console (a pseudo-terminal, no line limit), one process per column, reset through its control channel between cases.\n\n",
        );
        table(&mut s, ext);
    }
    s
}

fn table(s: &mut String, rows: &[SelfCheckRow]) {
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
}
