//! `strata completion bash|zsh|fish|elvish|powershell`: a shell completion
//! script generated from the command tree, so it cannot drift from it.
//!
//! Example: `strata completion bash > /etc/bash_completion.d/strata`

use clap_complete::Shell;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to generate completions for.
    pub shell: Shell,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let mut cmd = super::help::command();
    clap_complete::generate(args.shell, &mut cmd, "strata", &mut std::io::stdout());
    Ok(0)
}
