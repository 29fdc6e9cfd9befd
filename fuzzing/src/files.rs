//! What users hand the tools as files: a golden vector (parsed, then replayed against the simulator), a
//! world file, a conformance device file. A hostile file gives an error or a verdict, never a crash.

/// The fuzz target: the first byte picks the loader, the rest is the file's text.
pub fn run(data: &[u8]) {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    match which % 3 {
        0 => {
            // Parsing and replaying: a verdict (pass or mismatch) or an error.
            let _ = vectors::replay_json("fuzz", text);
        }
        1 => {
            if let Ok(file) = sim_device::runtime::world::WorldFile::from_toml(text) {
                let _ = file.to_world();
            }
        }
        _ => {
            let _ = conformance::description::Description::from_toml(text);
        }
    }
}

/// Seeds: the project's vectors, worlds and device files.
pub fn seeds(root: &std::path::Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (which, dir, ext) in [
        (0u8, "vectors/esp-idf", "json"),
        (1, "sim-device/worlds", "toml"),
        (2, "conformance/devices", "toml"),
        (2, "hil/examples/firmware/prov-softap-sec2", "toml"),
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for p in files {
            if p.extension().is_some_and(|e| e == ext) && !p.ends_with("index.json") {
                if let Ok(text) = std::fs::read(&p) {
                    out.push([&[which][..], &text].concat());
                }
            }
        }
    }
    out
}
