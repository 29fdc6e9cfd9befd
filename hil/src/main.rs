//! `hil`: the conformance suite on a rack of ESP32 boards (`--help`; `cargo xtask hil` builds and
//! runs it).

fn main() -> std::process::ExitCode {
    hil::cli::main()
}
