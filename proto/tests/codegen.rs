//! Checks that the committed prost output in `src/gen/` matches the `.proto` files.
//!
//! `PROVLAB_CODEGEN=write cargo test -p proto --test codegen` (what `cargo xtask codegen` runs)
//! rewrites the files instead of comparing them.

use std::path::{Path, PathBuf};

const FILES: &[&str] = &[
    "constants.proto",
    "session.proto",
    "sec0.proto",
    "sec1.proto",
    "sec2.proto",
    "wifi_constants.proto",
    "wifi_config.proto",
    "wifi_scan.proto",
    "wifi_ctrl.proto",
    "network_constants.proto",
    "network_config.proto",
    "network_scan.proto",
    "network_ctrl.proto",
];

fn generate(out: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
    let files: Vec<PathBuf> = FILES.iter().map(|f| root.join(f)).collect();
    let fds = protox::compile(&files, [&root]).expect("the .proto files compile");
    prost_build::Config::new()
        .out_dir(out)
        .compile_fds(fds)
        .expect("prost-build generates code");
}

#[test]
fn generated_code_is_current() {
    let gen_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/gen");
    let tmp = std::env::temp_dir().join(format!("provlab-codegen-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    generate(&tmp);
    let write = std::env::var("PROVLAB_CODEGEN").as_deref() == Ok("write");
    let mut stale = Vec::new();
    for pkg in ["protocomm", "wifi_prov", "network_prov"] {
        let fresh = std::fs::read_to_string(tmp.join(format!("{pkg}.rs"))).unwrap();
        let path = gen_dir.join(format!("{pkg}.rs"));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != fresh {
            if write {
                std::fs::create_dir_all(&gen_dir).unwrap();
                std::fs::write(&path, fresh).unwrap();
            } else {
                stale.push(path.display().to_string());
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(
        stale.is_empty(),
        "generated protobuf code is stale: {stale:?}; run `cargo xtask codegen` and commit the result"
    );
}
