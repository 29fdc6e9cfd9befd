//! The test run: `cargo nextest run` (a process per test, JUnit for CI in
//! `target/nextest/ci/junit.xml`), then the doc tests, which nextest does not run.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{cargo_bin, status};

/// Where the `ci` profile of `.config/nextest.toml` writes its JUnit report.
pub(crate) const JUNIT: &str = "target/nextest/ci/junit.xml";

/// Makes sure `cargo nextest` runs: installs it with `cargo install --locked` when missing, or says
/// exactly what to run when that fails.
pub(crate) fn ensure() -> Result<()> {
    crate::ensure_installed(
        Command::new(cargo_bin()).args(["nextest", "--version"]),
        "cargo-nextest",
    )
}

/// Runs every test of the workspace with nextest, then the doc tests; returns (passed, failed).
pub(crate) fn run(root: &Path, esp_prov_python: &Path) -> Result<(u64, u64)> {
    let junit = root.join(JUNIT);
    let _ = std::fs::remove_file(&junit);
    let tests = status(
        Command::new(cargo_bin())
            .args(["nextest", "run", "--workspace", "--profile", "ci"])
            .env("PROVLAB_ESP_PROV_PYTHON", esp_prov_python),
    );
    let counts = std::fs::read_to_string(&junit)
        .ok()
        .and_then(|x| totals(&x))
        .with_context(|| {
            format!(
                "nextest wrote no readable JUnit report at {}",
                junit.display()
            )
        });
    tests.context("cargo nextest run failed (the failures are listed above)")?;
    let (passed, failed) = counts?;
    status(Command::new(cargo_bin()).args(["test", "--workspace", "--doc"]))
        .context("the doc tests failed")?;
    if failed > 0 {
        bail!("{failed} tests failed");
    }
    Ok((passed, failed))
}

/// `(passed, failed)` from the `<testsuites tests=… failures=… errors=…>` element of a JUnit report.
fn totals(junit: &str) -> Option<(u64, u64)> {
    let start = junit.find("<testsuites")?;
    let tag = &junit[start..start + junit[start..].find('>')?];
    let attr = |name: &str| -> Option<u64> {
        let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        tag[at..].split('"').next()?.parse().ok()
    };
    let tests = attr("tests")?;
    let failed = attr("failures")? + attr("errors").unwrap_or(0);
    Some((tests.saturating_sub(failed), failed))
}

#[cfg(test)]
mod tests {
    use super::totals;

    #[test]
    fn junit_totals() {
        let x = r#"<?xml version="1.0"?><testsuites name="nextest-run" tests="12" failures="2" errors="1" uuid="x" timestamp="t" time="1.0"><testsuite/></testsuites>"#;
        assert_eq!(totals(x), Some((9, 3)));
        assert_eq!(totals("<nothing/>"), None);
    }
}
