//! Cleaning up after a build that was killed with SIGKILL (no unwinding):
//! its RUN container may still run and its union mount is dead
//! (ENOTCONN) inside its session's staging. The next build finds sessions
//! whose lock is free (their process is gone), kills the container recorded
//! in `run-*/state/container.pid` (pid + start time, so a reused pid is
//! never hit), detaches mounts under the staging, and lets the store drop
//! the staging and leases.

use std::fs;
use std::path::Path;

use nix::mount::{MntFlags, umount2};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::error::{Result, io_err};
use crate::runtime::control::ProcessIdentity;
use crate::store::{Store, lock};

/// File (in a RUN's state dir) naming the running container: "pid start".
pub const PID_FILE: &str = "container.pid";

/// Records the container of a RUN for [`recover`].
pub fn record_container(state: &Path, pid: i32) -> Result<()> {
    if let Some(id) = ProcessIdentity::of(pid) {
        let p = state.join(PID_FILE);
        fs::write(&p, format!("{} {}", id.pid, id.start_time)).map_err(io_err(&p))?;
    }
    Ok(())
}

/// Cleans what killed builds left in `store`'s tmp/.
pub fn recover(store: &Store) -> Result<()> {
    // Absolute, as /proc/self/mountinfo lists mount points.
    let tmp = store.layout().tmp();
    let tmp = tmp.canonicalize().unwrap_or(tmp);
    let Ok(entries) = fs::read_dir(&tmp) else {
        return Ok(());
    };
    let mut dead = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("session-") || name.ends_with(".lock") {
            continue;
        }
        let lock_path = tmp.join(format!("{name}.lock"));
        // Taken (and released at once) = nobody holds it = dead session.
        if lock::try_lock_exclusive(&lock_path)?.is_some() {
            dead.push(e.path());
        }
    }
    if dead.is_empty() {
        return Ok(());
    }
    for dir in &dead {
        kill_containers(dir);
    }
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in mounts.lines() {
        let Some(point) = line.split(' ').nth(4) else {
            continue;
        };
        let point = point.replace("\\040", " ");
        if dead.iter().any(|d| Path::new(&point).starts_with(d)) {
            let _ = umount2(Path::new(&point), MntFlags::MNT_DETACH);
        }
    }
    let _guard = store.lock_store()?;
    store.expire_dead_sessions()?;
    Ok(())
}

fn kill_containers(session: &Path) {
    let Ok(runs) = fs::read_dir(session) else {
        return;
    };
    for run in runs.flatten() {
        let Ok(text) = fs::read_to_string(run.path().join("state").join(PID_FILE)) else {
            continue;
        };
        let mut it = text.split_whitespace().map(str::parse::<u64>);
        if let (Some(Ok(pid)), Some(Ok(start))) = (it.next(), it.next())
            && ProcessIdentity::of(pid as i32).is_some_and(|id| id.start_time == start)
        {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
}
