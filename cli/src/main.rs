//! The `strata` binary: parses arguments and hands them to a command.

mod commands;

fn main() {
    // The container init (`strata __init`, see builder::runtime) runs before
    // anything else: no argument parsing, no logger, no threads.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == builder::runtime::INIT_ARG)
    {
        let code = builder::runtime::init_main().unwrap_or_else(|err| {
            eprintln!("Error: {err}");
            125
        });
        std::process::exit(code);
    }
    let cli = commands::help::parse();
    let code = commands::run(cli);
    std::process::exit(code);
}
