//! Architecture invariants checked as an ordinary test (rust-analyzer's tidy):
//! - every Rust file starts with a `//!` module doc;
//! - the sans-IO core (`sim-device/src`, outside `runtime/`, `transport/` and `bin/`) uses no async runtime, no
//!   sockets, and never reads the clock or OS randomness;
//! - no source file grows past 600 lines (generated code excepted);
//! - transports never decode protobuf: they hand `(endpoint, session, bytes)` to the device;
//! - only the conformance suite's `report` module knows report formats (JUnit, HTML, Markdown tables);
//! - the conformance suite's modules import each other without a cycle (`module_graph`).

#[cfg(test)]
mod module_graph;

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if p.is_dir() {
                if !matches!(name, "target" | "gen" | ".git" | "fuzz") {
                    rust_files(&p, out);
                }
            } else if name.ends_with(".rs") {
                out.push(p);
            }
        }
    }

    fn root() -> PathBuf {
        super::super::project_root()
    }

    fn files() -> Vec<PathBuf> {
        let mut v = Vec::new();
        for d in [
            "proto",
            "prov-client",
            "sim-device",
            "vectors",
            "xtask",
            "conformance",
            "hil",
            "fuzzing",
            "fuzz",
            "bluez-loopback",
        ] {
            rust_files(&root().join(d), &mut v);
        }
        v
    }

    #[test]
    fn every_file_has_a_module_doc() {
        let missing: Vec<_> = files()
            .into_iter()
            .filter(|p| {
                !std::fs::read_to_string(p)
                    .unwrap_or_default()
                    .trim_start()
                    .starts_with("//!")
            })
            .collect();
        assert!(
            missing.is_empty(),
            "files without a leading //! doc: {missing:?}"
        );
    }

    #[test]
    fn files_stay_small() {
        let long: Vec<_> = files()
            .into_iter()
            .filter_map(|p| {
                let n = std::fs::read_to_string(&p)
                    .unwrap_or_default()
                    .lines()
                    .count();
                (n > 600).then(|| format!("{} ({n} lines)", p.display()))
            })
            .collect();
        assert!(long.is_empty(), "split these files: {long:?}");
    }

    #[test]
    fn core_is_sans_io() {
        let core = root().join("sim-device/src");
        let mut v = Vec::new();
        rust_files(&core, &mut v);
        let forbidden = [
            "tokio",
            "hyper",
            "bluer",
            "std::net::TcpStream",
            "std::net::UdpSocket",
            "std::fs",
            "Instant::now",
            "SystemTime::now",
            "OsRng",
            "thread_rng",
            "getrandom",
        ];
        let mut bad = Vec::new();
        for p in v {
            let rel = p
                .strip_prefix(&core)
                .unwrap_or(&p)
                .to_string_lossy()
                .to_string();
            if rel.starts_with("transport") || rel.starts_with("bin") || rel.starts_with("runtime")
            {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            // Tests may use the clock to pick a base instant.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for f in forbidden {
                if code.contains(f) {
                    bad.push(format!("{rel}: {f}"));
                }
            }
        }
        assert!(bad.is_empty(), "the device core must stay sans-IO: {bad:?}");
    }

    /// Text of every Rust file under `dir`, test modules cut off, with its path relative to `dir`.
    fn sources(dir: &str) -> Vec<(String, String)> {
        let base = root().join(dir);
        let mut v = Vec::new();
        rust_files(&base, &mut v);
        v.into_iter()
            .map(|p| {
                let rel = p
                    .strip_prefix(&base)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .to_string();
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let code = text.split("#[cfg(test)]").next().unwrap_or("").to_owned();
                (rel, code)
            })
            .collect()
    }

    #[test]
    fn transports_never_decode_protobuf() {
        let bad: Vec<String> = sources("sim-device/src/transport")
            .into_iter()
            .flat_map(|(rel, code)| {
                ["prost", "proto::", "protocomm::", "wifi_prov::"]
                    .into_iter()
                    .filter(move |f| code.contains(f))
                    .map(move |f| format!("{rel}: {f}"))
            })
            .collect();
        assert!(
            bad.is_empty(),
            "a transport hands bytes to the device and never decodes them: {bad:?}"
        );
    }

    #[test]
    fn only_the_report_module_knows_report_formats() {
        let markup = [
            "<testsuite",
            "<testcase",
            "<!DOCTYPE",
            "<html",
            "<table",
            "| :--",
            "|---|",
        ];
        let bad: Vec<String> = sources("conformance/src")
            .into_iter()
            .filter(|(rel, _)| !rel.starts_with("report"))
            .flat_map(|(rel, code)| {
                markup
                    .into_iter()
                    .filter(move |m| code.contains(m))
                    .map(move |m| format!("{rel}: {m}"))
            })
            .collect();
        assert!(
            bad.is_empty(),
            "report formats belong in conformance/src/report: {bad:?}"
        );
    }

    #[test]
    fn conformance_modules_have_no_import_cycle() {
        let cycles = super::module_graph::cycles(&sources("conformance/src"), 2);
        assert!(
            cycles.is_empty(),
            "import cycles between conformance modules (move the shared piece below both): {cycles:?}"
        );
    }
}
