//! The last steps of the container's process, inside its namespaces and
//! root: terminal, stdio, user, environment, working directory,
//! capabilities, `no_new_privs`, then exec. Runs in a forked child of the
//! single-threaded init. Returns only on failure.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid};

use super::caps;
use super::channel::{Channel, Message};
use super::error::{StartFailure, StartFailureKind};
use super::spec::{DEFAULT_PATH, ProcessSpec};
use super::sys;
use super::user::{ExecUser, resolve_user};

/// Where the child's stdout/stderr go when the init tees them to the log.
pub struct LogPipes {
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

fn setup_err(what: &str, e: impl std::fmt::Display) -> StartFailure {
    StartFailure::setup(format!("{what}: {e}"))
}

/// Everything after the filesystem is in place, ending in execve.
pub fn exec_process(chan: &Channel, process: &ProcessSpec, log: Option<LogPipes>) -> StartFailure {
    match prepare_and_exec(chan, process, log) {
        Ok(never) => match never {},
        Err(f) => f,
    }
}

enum Never {}

fn prepare_and_exec(
    chan: &Channel,
    process: &ProcessSpec,
    log: Option<LogPipes>,
) -> Result<Never, StartFailure> {
    // A session of its own: the user's terminal's job-control signals (^C
    // without -t) go to strata, which relays them, as `docker run` does.
    nix::unistd::setsid().map_err(|e| setup_err("setsid", e))?;
    if process.tty {
        attach_new_pty(chan)?;
    } else {
        if !process.stdin {
            let null = nix::fcntl::open("/dev/null", OFlag::O_RDWR, Mode::empty())
                .map_err(|e| setup_err("open /dev/null", e))?;
            nix::unistd::dup2_stdin(&null).map_err(|e| setup_err("dup2 stdin", e))?;
        }
        if let Some(pipes) = log {
            nix::unistd::dup2_stdout(&pipes.stdout).map_err(|e| setup_err("dup2 stdout", e))?;
            nix::unistd::dup2_stderr(&pipes.stderr).map_err(|e| setup_err("dup2 stderr", e))?;
        }
    }

    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let user = resolve_user(&process.user, &read("/etc/passwd"), &read("/etc/group"))
        .map_err(|e| setup_err("user", e))?;
    let env = environment(process, &user, &read("/etc/hostname"));

    // The working directory is created as root before the user switch, and
    // entered before it too (a user without search permission on a parent
    // still starts there, as with runc).
    let cwd = Path::new(&process.cwd);
    std::fs::create_dir_all(cwd).map_err(|e| setup_err(&format!("workdir {}", process.cwd), e))?;
    nix::unistd::chdir(cwd).map_err(|e| setup_err(&format!("chdir {}", process.cwd), e))?;

    nix::sys::prctl::set_no_new_privs().map_err(|e| setup_err("no_new_privs", e))?;
    caps::apply_docker_caps().map_err(|e| setup_err("capabilities", e))?;
    switch_user(&user)?;
    sys::default_signal(Signal::SIGPIPE).map_err(|e| setup_err("reset SIGPIPE", e))?;
    sys::cloexec_from_3().map_err(|e| setup_err("close descriptors", e))?;

    let program = find_program(&process.args, &env)?;
    let argv = cstrings(&process.args)?;
    let envp = cstrings(&env)?;
    let path = CString::new(program.as_os_str().as_encoded_bytes())
        .map_err(|e| setup_err("program path", e))?;
    let err = match nix::unistd::execve(&path, &argv, &envp) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let kind = match err {
        Errno::ENOENT | Errno::ENOTDIR => StartFailureKind::NotFound,
        _ => StartFailureKind::NotExecutable,
    };
    Err(StartFailure {
        kind,
        message: format!("exec: {:?}: {}", process.args[0], err.desc()),
    })
}

/// Allocates a pty in the container's own devpts (so the process sees
/// /dev/pts/N of its namespace), makes the slave the controlling terminal
/// and stdio, and sends the master to the parent (runc's console socket).
fn attach_new_pty(chan: &Channel) -> Result<(), StartFailure> {
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let master = nix::pty::posix_openpt(flags).map_err(|e| setup_err("open /dev/ptmx", e))?;
    nix::pty::grantpt(&master).map_err(|e| setup_err("grantpt", e))?;
    nix::pty::unlockpt(&master).map_err(|e| setup_err("unlockpt", e))?;
    let name = nix::pty::ptsname_r(&master).map_err(|e| setup_err("ptsname", e))?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| setup_err(&format!("open {name}"), e))?;
    sys::set_controlling_tty(slave.as_fd()).map_err(|e| setup_err("TIOCSCTTY", e))?;
    nix::unistd::dup2_stdin(&slave).map_err(|e| setup_err("dup2 stdin", e))?;
    nix::unistd::dup2_stdout(&slave).map_err(|e| setup_err("dup2 stdout", e))?;
    nix::unistd::dup2_stderr(&slave).map_err(|e| setup_err("dup2 stderr", e))?;
    chan.send_with_fd(&Message::Pty, Some(master.as_raw_fd()))
        .map_err(|e| setup_err("send pty", e))?;
    Ok(())
}

fn switch_user(user: &ExecUser) -> Result<(), StartFailure> {
    let groups: Vec<Gid> = user.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    nix::unistd::setgroups(&groups).map_err(|e| setup_err("setgroups", e))?;
    nix::unistd::setgid(Gid::from_raw(user.gid)).map_err(|e| setup_err("setgid", e))?;
    nix::unistd::setuid(Uid::from_raw(user.uid)).map_err(|e| setup_err("setuid", e))
}

/// The process environment with Docker's defaults for what is missing.
pub fn environment(process: &ProcessSpec, user: &ExecUser, hostname: &str) -> Vec<String> {
    let mut env = process.env.clone();
    let has = |env: &[String], key: &str| env.iter().any(|e| e.split('=').next() == Some(key));
    let hostname = hostname.trim();
    let defaults = [
        ("PATH", DEFAULT_PATH.to_string(), true),
        ("HOSTNAME", hostname.to_string(), !hostname.is_empty()),
        ("HOME", user.home.clone(), true),
        ("TERM", "xterm".to_string(), process.tty),
    ];
    for (key, value, wanted) in defaults {
        if wanted && !has(&env, key) {
            env.push(format!("{key}={value}"));
        }
    }
    env
}

/// `args[0]` as given when it has a slash, else the first executable file
/// named so in the `PATH` of the process's environment.
fn find_program(args: &[String], env: &[String]) -> Result<PathBuf, StartFailure> {
    let name = args
        .first()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| StartFailure::setup("no command given"))?;
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(name);
        let is_file = std::fs::metadata(&candidate).is_ok_and(|m| m.is_file());
        if is_file && nix::unistd::access(&candidate, nix::unistd::AccessFlags::X_OK).is_ok() {
            return Ok(candidate);
        }
    }
    Err(StartFailure {
        kind: StartFailureKind::NotFound,
        message: format!("exec: {name:?}: executable file not found in $PATH"),
    })
}

fn cstrings(items: &[String]) -> Result<Vec<CString>, StartFailure> {
    items
        .iter()
        .map(|s| CString::new(s.as_bytes()).map_err(|e| setup_err("argument", e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_adds_docker_defaults_only_when_missing() {
        let mut p = ProcessSpec::new(["sh"]);
        p.env = vec!["PATH=/bin".into(), "A=1".into()];
        p.tty = true;
        let user = ExecUser {
            uid: 0,
            gid: 0,
            groups: vec![],
            home: "/root".into(),
        };
        let env = environment(&p, &user, "box\n");
        assert_eq!(
            env,
            vec![
                "PATH=/bin",
                "A=1",
                "HOSTNAME=box",
                "HOME=/root",
                "TERM=xterm"
            ]
        );
    }

    #[test]
    fn program_lookup_reports_not_found() {
        let err = find_program(&["no-such-cmd-xyz".into()], &["PATH=/nonexistent".into()])
            .expect_err("not found");
        assert_eq!(err.kind, StartFailureKind::NotFound);
        assert_eq!(err.exit_code(), 127);
        let sh = find_program(&["sh".into()], &["PATH=/bin".into()]).expect("sh on host");
        assert_eq!(sh, PathBuf::from("/bin/sh"));
    }
}
