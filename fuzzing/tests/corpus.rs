//! Every fuzz target's body over its seeds, its kept regressions and a bounded set of mutations of the
//! seeds, on stable: the targets cannot rot, and a crash once found stays fixed. (The coverage-guided runs
//! are `cargo xtask fuzz`, on nightly.)

use fuzzing::TARGETS;

/// Mutations per seed: a small, deterministic sample (the real search is libFuzzer's).
const MUTATIONS: usize = 8;

/// xorshift64*: deterministic mutations, seeded per target.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Flip, insert, delete or truncate a few bytes.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(4) {
            0 if at < v.len() => v[at] ^= 1 << rng.below(8),
            1 => v.insert(at, rng.next() as u8),
            2 if at < v.len() => {
                v.remove(at);
            }
            _ => v.truncate(at),
        }
    }
    v
}

#[test]
fn every_target_survives_its_corpus() {
    for (i, t) in TARGETS.iter().enumerate() {
        let seeds = fuzzing::seeds(t.name).unwrap_or_else(|e| panic!("{}: {e}", t.name));
        assert!(!seeds.is_empty(), "{}: no seeds", t.name);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ i as u64);
        for seed in &seeds {
            (t.run)(seed);
            for _ in 0..MUTATIONS {
                (t.run)(&mutate(seed, &mut rng));
            }
        }
        for (path, input) in fuzzing::regressions(t.name) {
            eprintln!("{}: regression {}", t.name, path.display());
            (t.run)(&input);
        }
        (t.run)(&[]);
    }
}

#[test]
fn device_inputs_round_trip_through_the_format() {
    use fuzzing::device::{decode, encode, Op, Setup};
    let setup = Setup {
        security: 2,
        profile: prov_client::Profile::NetworkProv12,
    };
    let ops = vec![
        Op::Open(3),
        Op::Handshake {
            session: 3,
            right: false,
        },
        Op::Raw {
            ep: 2,
            session: 3,
            body: vec![1, 2, 3],
        },
        Op::Client {
            ep: 1,
            plain: vec![0x52, 0],
        },
        Op::Advance(1500),
        Op::Close(3),
    ];
    assert_eq!(decode(&encode(setup, &ops)), Some((setup, ops)));
}

#[test]
fn cargo_fuzz_has_a_binary_for_every_target() {
    let manifest = std::fs::read_to_string(fuzzing::root().join("fuzz/Cargo.toml")).unwrap();
    let bins: Vec<&str> = manifest
        .split("[[bin]]")
        .skip(1)
        .filter_map(|b| b.split("name = \"").nth(1)?.split('"').next())
        .collect();
    let targets: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
    assert_eq!(bins, targets, "fuzz/Cargo.toml and fuzzing::TARGETS differ");
    for t in &targets {
        let entry = fuzzing::root().join(format!("fuzz/fuzz_targets/{t}.rs"));
        assert!(entry.is_file(), "{} is missing", entry.display());
    }
}
