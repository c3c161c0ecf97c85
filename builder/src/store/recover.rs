//! Reclaiming the staging of a dead session (a strata process killed with
//! SIGKILL, so nothing of it unwound).
//!
//! Such a staging dir can hold more than files: the union mount of a RUN
//! step or a commit whose FUSE server died with the process (every access
//! fails with ENOTCONN, so `remove_dir_all` would fail on it), and the
//! container of a RUN step, recorded in `<staging>/*/state/container.pid`
//! (pid and start time, so a recycled pid is never hit). Order: kill the
//! recorded processes, detach the mounts under the dir, then delete it.

use std::fs;
use std::path::Path;

use nix::mount::{MntFlags, umount2};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::error::{Result, io_err};
use crate::runtime::control::ProcessIdentity;

/// File (in a RUN's `state` dir) naming the running container: "pid start".
pub const PID_FILE: &str = "container.pid";

/// Records `pid` as a process of the staging subdir whose state dir is
/// `state`, for [`reclaim`] after a SIGKILL. Best effort by design: the
/// container also dies by itself when its strata parent does (the init
/// watches its channel), this is the second line.
pub fn record_process(state: &Path, pid: i32) -> Result<()> {
    if let Some(id) = ProcessIdentity::of(pid) {
        let p = state.join(PID_FILE);
        fs::write(&p, format!("{} {}", id.pid, id.start_time)).map_err(io_err(&p))?;
    }
    Ok(())
}

/// Kills what `dir` recorded, detaches mounts under it, deletes it.
pub fn reclaim(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    kill_recorded(dir);
    detach_mounts_under(dir);
    fs::remove_dir_all(dir).map_err(io_err(dir))
}

fn kill_recorded(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(text) = fs::read_to_string(entry.path().join("state").join(PID_FILE)) else {
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

/// Lazily detaches every mount at or below `dir` (deepest first), as
/// /proc/self/mountinfo lists them (absolute, octal-escaped).
pub fn detach_mounts_under(dir: &Path) {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| String::from_utf8_lossy(&overlayfs::unescape_mountinfo(p)).into_owned())
        .filter(|p| Path::new(p).starts_with(&dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = umount2(Path::new(&p), MntFlags::MNT_DETACH);
    }
}
