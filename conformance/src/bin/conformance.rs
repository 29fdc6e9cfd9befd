//! `conformance`: see `conformance --help`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    conformance::cli::main(conformance::cli::Cli::parse())
}
