//! The `strata` binary: parses arguments and hands them to a command.

mod commands;

use clap::Parser;

fn main() {
    let cli = commands::Cli::parse();
    let code = commands::run(cli);
    std::process::exit(code);
}
