//! `strata login`: check credentials against a registry and store them
//! (mode 0600) for push and pull.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use builder::oci::registry::auth::{self, Credentials};
use builder::oci::registry::{ClientOptions, DOCKER_HUB, login};

/// Log in to a registry.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Username.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (visible in the process list; prefer --password-stdin).
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from STDIN.
    #[arg(long)]
    pub password_stdin: bool,
    /// Insecure registry: accept an unverified certificate or plain HTTP
    /// (always so for localhost and 127.0.0.0/8).
    #[arg(long)]
    pub insecure: bool,
    /// Registry host[:port] (default: Docker Hub).
    pub server: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let server = args
        .server
        .as_deref()
        .map(|s| {
            s.trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/')
        })
        .unwrap_or(DOCKER_HUB)
        .to_string();
    let username = match args.username {
        Some(u) => u,
        None => prompt("Username: ")?,
    };
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        line.trim_end_matches(['\n', '\r']).to_string()
    } else {
        match args.password {
            Some(p) => p,
            None => prompt_hidden("Password: ")?,
        }
    };
    if username.is_empty() || password.is_empty() {
        bail!("username and password must not be empty");
    }
    let creds = Credentials { username, password };
    let opts = ClientOptions {
        insecure: args.insecure,
        retries: None,
        credentials: Some(creds.clone()),
        certs_dir: None,
    };
    login(&server, &opts)?;
    let path = auth::store(&server, &creds)?;
    log::info!("credentials stored in {}", path.display());
    println!("Login Succeeded");
    Ok(0)
}

fn prompt(text: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!("give the username with -u");
    }
    eprint!("{text}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

/// Reads a line from the terminal with echo off (restored afterwards).
fn prompt_hidden(text: &str) -> anyhow::Result<String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("give the password with --password-stdin (or -p)");
    }
    let saved = tcgetattr(&stdin).context("reading terminal settings")?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("turning echo off")?;
    eprint!("{text}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    eprintln!();
    read.context("reading the password")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
