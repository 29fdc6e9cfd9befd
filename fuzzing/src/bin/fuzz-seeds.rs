//! `fuzz-seeds DIR [TARGET…]`: writes each target's seed inputs into `DIR/<target>/seed-<n>` (the
//! libFuzzer corpus `cargo xtask fuzz` starts from).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: fuzz-seeds DIR [TARGET…]");
        return ExitCode::from(2);
    };
    let wanted: Vec<String> = args.collect();
    for t in fuzzing::TARGETS {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == t.name) {
            continue;
        }
        let out = std::path::Path::new(&dir).join(t.name);
        let seeds = match fuzzing::seeds(t.name) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("fuzz-seeds: {}: {e}", t.name);
                return ExitCode::FAILURE;
            }
        };
        if let Err(e) = std::fs::create_dir_all(&out) {
            eprintln!("fuzz-seeds: {}: {e}", out.display());
            return ExitCode::FAILURE;
        }
        for (i, s) in seeds.iter().enumerate() {
            if let Err(e) = std::fs::write(out.join(format!("seed-{i:04}")), s) {
                eprintln!("fuzz-seeds: {}: {e}", out.display());
                return ExitCode::FAILURE;
            }
        }
        println!("{}: {} seeds in {}", t.name, seeds.len(), out.display());
    }
    ExitCode::SUCCESS
}
