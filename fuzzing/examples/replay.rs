//! `cargo run -p fuzzing --example replay -- TARGET FILE…`: runs a target's body on inputs (a crash
//! artifact, a corpus) with timings, on stable.

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().expect("usage: replay TARGET FILE…");
    let target = fuzzing::TARGETS
        .iter()
        .find(|t| t.name == name)
        .expect("no such target");
    for f in args {
        let data = std::fs::read(&f).expect("read input");
        let t = std::time::Instant::now();
        (target.run)(&data);
        println!("{f}: {:?}", t.elapsed());
    }
}
