//! The secret scan: every file under a directory, searched for every secret in every encoding a log,
//! report or transcript could carry it in (as is, hex in either case and with separators, base64 at any
//! alignment, and Rust's `{:?}` of a byte slice).

use std::path::{Path, PathBuf};

/// A secret to look for, with a name to report instead of its value.
pub(crate) struct Secret {
    pub(crate) name: String,
    pub(crate) bytes: Vec<u8>,
}

/// One place a secret was found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) file: PathBuf,
    pub(crate) line: usize,
    pub(crate) secret: String,
    pub(crate) encoding: &'static str,
}

/// What a scan covered and found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub(crate) files: usize,
    pub(crate) bytes: u64,
    pub(crate) lines: usize,
    pub(crate) hits: Vec<Hit>,
}

/// The base64 characters that depend only on `secret` when it starts `skip` bytes into a 3-byte group
/// (the first and last characters also depend on neighbours, so they are dropped).
fn base64_core(secret: &[u8], skip: usize) -> Vec<u8> {
    use base64::Engine as _;
    let mut data = vec![0u8; skip];
    data.extend_from_slice(secret);
    let out = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&data);
    let first = (skip * 8).div_ceil(6);
    let last = ((skip + secret.len()) * 8) / 6;
    out.as_bytes()
        .get(first..last.min(out.len()))
        .unwrap_or_default()
        .to_vec()
}

/// Every encoding of `secret` to search for, named.
pub(crate) fn encodings(secret: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let hex = |sep: &str, upper: bool| -> Vec<u8> {
        secret
            .iter()
            .map(|b| {
                if upper {
                    format!("{b:02X}")
                } else {
                    format!("{b:02x}")
                }
            })
            .collect::<Vec<_>>()
            .join(sep)
            .into_bytes()
    };
    let mut out = vec![
        ("raw", secret.to_vec()),
        ("hex", hex("", false)),
        ("HEX", hex("", true)),
        ("hex with spaces", hex(" ", false)),
        ("hex with colons", hex(":", false)),
        (
            "{:?} bytes",
            format!("{secret:?}")
                .trim_matches(['[', ']'])
                .as_bytes()
                .to_vec(),
        ),
    ];
    for skip in 0..3 {
        let core = base64_core(secret, skip);
        // Too short a core matches by chance; secrets here are 8 bytes or more.
        if core.len() >= 8 {
            out.push(("base64", core));
        }
    }
    out
}

/// Scans every file under `dir` (recursively) except `skip` for `secrets`, all patterns at once
/// (Aho-Corasick: thousands of session keys in several encodings over megabytes of logs).
pub(crate) fn scan_dir(dir: &Path, skip: &[PathBuf], secrets: &[Secret]) -> std::io::Result<Scan> {
    let mut names = Vec::new();
    let mut patterns = Vec::new();
    for s in secrets {
        for (enc, p) in encodings(&s.bytes) {
            names.push((s.name.as_str(), enc));
            patterns.push(p);
        }
    }
    let ac = aho_corasick::AhoCorasick::new(&patterns).map_err(std::io::Error::other)?;
    let mut scan = Scan::default();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if skip.contains(&path) {
                continue;
            }
            let data = std::fs::read(&path)?;
            scan.files += 1;
            scan.bytes += data.len() as u64;
            scan.lines += data.iter().filter(|&&b| b == b'\n').count() + 1;
            let mut seen = std::collections::BTreeSet::new();
            for m in ac.find_overlapping_iter(&data) {
                let line = data[..m.start()].iter().filter(|&&b| b == b'\n').count() + 1;
                let (secret, encoding) = names[m.pattern().as_usize()];
                if seen.insert((line, secret, encoding)) {
                    scan.hits.push(Hit {
                        file: path.clone(),
                        line,
                        secret: secret.to_owned(),
                        encoding,
                    });
                }
            }
        }
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str, secret: &[u8]) -> Vec<&'static str> {
        let text = text.as_bytes();
        encodings(secret)
            .into_iter()
            .filter(|(_, p)| text.windows(p.len()).any(|w| w == p.as_slice()))
            .map(|(e, _)| e)
            .collect()
    }

    #[test]
    fn every_encoding_is_found() {
        let s = b"mypassword";
        assert_eq!(found("psk=mypassword;", s), ["raw"]);
        assert_eq!(found("1a0a6d7970617373776f7264", s), ["hex"]);
        assert_eq!(found("6D7970617373776F7264", s), ["HEX"]);
        assert_eq!(
            found("6d 79 70 61 73 73 77 6f 72 64", s),
            ["hex with spaces"]
        );
        assert_eq!(
            found("[109, 121, 112, 97, 115, 115, 119, 111, 114, 100]", s),
            ["{:?} bytes"]
        );
        // base64 of the secret at each alignment inside a longer value (computed with `base64`).
        assert_eq!(found("bXlwYXNzd29yZA==", s), ["base64"]);
        assert_eq!(found("eG15cGFzc3dvcmQ=", s), ["base64"]);
        assert_eq!(found("eHhteXBhc3N3b3Jk", s), ["base64"]);
        assert!(found("a harmless line", s).is_empty());
    }

    #[test]
    fn a_directory_scan_names_file_line_and_encoding() {
        let dir = std::env::temp_dir().join(format!("provlab-scan-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("a.log"), "ok\nkey=6d7970617373776f7264\n").unwrap();
        std::fs::write(dir.join("sub/b.md"), "nothing here\n").unwrap();
        let secrets = [Secret {
            name: "passphrase".into(),
            bytes: b"mypassword".to_vec(),
        }];
        let scan = scan_dir(&dir, &[], &secrets).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(scan.files, 2);
        assert_eq!(
            scan.hits,
            [Hit {
                file: dir.join("a.log"),
                line: 2,
                secret: "passphrase".into(),
                encoding: "hex",
            }]
        );
    }
}
