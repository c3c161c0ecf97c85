//! Cross-process exclusion on the files of the store.
//!
//! SQLite serialises catalog writes, but files (layer directories, staging
//! trees) change outside its transactions. Two locks cover them:
//! - `root/lock`, an flock held exclusively around every section that creates
//!   or removes files under `layers/` together with their rows (commit of a
//!   layer, GC, repair). Sections are short: staging happens outside it.
//! - a per-process *session*: `tmp/<session>/` is this process's staging area
//!   and `tmp/<session>.lock` is flocked for the life of the `Store`. Layers the
//!   process created but no image references yet are leased to the session in
//!   the catalog. GC and repair treat a session as dead (its staging and leases
//!   removable) only when they can take its lock, which the kernel releases
//!   when the owner dies, even by SIGKILL.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

use super::error::{Error, Result, io_err};

/// An held flock; released on drop.
pub struct FileLock {
    lock: Flock<File>,
}

fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_err(path))
}

/// How long [`lock_exclusive`] waits for another process by default.
/// Sections under the lock are short (staging happens outside it), so this
/// is only reached when a holder is stuck; `STRATA_LOCK_TIMEOUT` (seconds)
/// changes it.
const LOCK_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a wait goes unmentioned.
const WARN_AFTER: Duration = Duration::from_secs(1);

/// Waits until `path` is locked exclusively. When another process holds
/// it, says which one (a warning), and gives up after the lock timeout
/// with [`Error::Locked`] naming it.
pub fn lock_exclusive(path: &Path) -> Result<FileLock> {
    if let Some(l) = try_lock_exclusive(path)? {
        return Ok(l);
    }
    let timeout = std::env::var("STRATA_LOCK_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(LOCK_TIMEOUT, Duration::from_secs);
    let holder = holder(path);
    let started = Instant::now();
    let mut told = false;
    loop {
        if let Some(l) = try_lock_exclusive(path)? {
            return Ok(l);
        }
        // Brief contention is normal (sections are short): say whom we
        // wait for only when it lasts.
        if !told && started.elapsed() >= WARN_AFTER && timeout > WARN_AFTER {
            log::warn!(
                "waiting for the store lock {}, held by {holder}",
                path.display()
            );
            told = true;
        }
        if started.elapsed() >= timeout {
            return Err(Error::Locked {
                path: path.parent().unwrap_or(path).to_path_buf(),
                holder,
                waited: started.elapsed().as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Who holds the flock on `path`: `pid N (its command line)` from
/// /proc/locks (the kernel's record, right even when the holder never
/// wrote anything), or `another process` when it cannot be told.
pub fn holder(path: &Path) -> String {
    let pid = std::fs::metadata(path).ok().and_then(|m| {
        let locks = std::fs::read_to_string("/proc/locks").ok()?;
        flock_holder(&locks, m.dev(), m.ino())
    });
    let Some(pid) = pid else {
        return "another process".to_string();
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    if words.is_empty() {
        format!("pid {pid}")
    } else {
        format!("pid {pid} ({})", words.join(" "))
    }
}

/// The pid holding a FLOCK on the file `dev`/`ino` in the text of
/// /proc/locks: `1: FLOCK  ADVISORY  WRITE 1234 fe:00:6619206 0 EOF`
/// (device as hex major:minor; waiters are the `->` lines).
fn flock_holder(locks: &str, dev: u64, ino: u64) -> Option<u32> {
    let want = format!(
        "{:02x}:{:02x}:{ino}",
        nix::sys::stat::major(dev),
        nix::sys::stat::minor(dev)
    );
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [_, "FLOCK", _, _, pid, file, ..] if *file == want => pid.parse().ok(),
            _ => None,
        }
    })
}

/// Takes the lock if nobody holds it; `None` when someone does.
pub fn try_lock_exclusive(path: &Path) -> Result<Option<FileLock>> {
    lock(path, FlockArg::LockExclusiveNonblock)
}

fn lock(path: &Path, arg: FlockArg) -> Result<Option<FileLock>> {
    let file = open_lock_file(path)?;
    match Flock::lock(file, arg) {
        Ok(l) => Ok(Some(FileLock { lock: l })),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, errno)) => Err(Error::Io {
            path: path.to_path_buf(),
            source: errno.into(),
        }),
    }
}

/// This process's staging area and lease owner.
pub struct Session {
    name: String,
    dir: PathBuf,
    lock_path: PathBuf,
    _lock: FileLock,
}

impl Session {
    /// Creates `tmp/<name>/` and holds `tmp/<name>.lock`. The caller holds the
    /// store lock so that repair never sees the directory before its lock.
    pub fn create(tmp: &Path) -> Result<Session> {
        let name = format!(
            "session-{}-{}",
            std::process::id(),
            hex::encode(rand_bytes())
        );
        let lock_path = tmp.join(format!("{name}.lock"));
        let lock = try_lock_exclusive(&lock_path)?.ok_or_else(|| Error::Io {
            path: lock_path.clone(),
            source: std::io::Error::other("session lock already held"),
        })?;
        let dir = tmp.join(&name);
        std::fs::create_dir(&dir).map_err(io_err(&dir))?;
        Ok(Session {
            name,
            dir,
            lock_path,
            _lock: lock,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The open lock file (whose description holds the flock).
    pub fn lock_file(&self) -> &File {
        &self._lock.lock
    }

    /// Leaves the session's dir, lock file and leases in place: another
    /// process inherited the lock and owns the session from now on.
    /// Forgotten, not dropped: dropping the `Flock` would `LOCK_UN` the open
    /// file description the other process shares, releasing its lock. Our
    /// descriptor closes when this process exits (close does not unlock a
    /// description still open elsewhere).
    pub fn keep(self) {
        std::mem::forget(self);
    }

    /// Staging directory; everything in it is this process's.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A fresh path inside the staging directory.
    pub fn scratch(&self, what: &str) -> PathBuf {
        self.dir
            .join(format!("{what}-{}", hex::encode(rand_bytes())))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Best effort: a leftover is found dead and removed by GC or repair.
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

/// 8 random bytes from the kernel, for unique names.
fn rand_bytes() -> [u8; 8] {
    let mut buf = [0u8; 8];
    if let Ok(mut f) = File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut buf);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for (b, n) in buf.iter_mut().zip(nanos.to_le_bytes()) {
        *b ^= n;
    }
    buf
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_flock_holder_in_proc_locks() {
        let locks = "1: POSIX  ADVISORY  WRITE 99 fe:00:42 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 1234 fe:00:42 0 EOF\n\
                     2: -> FLOCK  ADVISORY  WRITE 777 fe:00:42 0 EOF\n";
        let dev = nix::sys::stat::makedev(0xfe, 0);
        assert_eq!(flock_holder(locks, dev, 42), Some(1234));
        assert_eq!(flock_holder(locks, dev, 43), None);
    }

    #[test]
    fn names_this_process_as_the_holder_of_its_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let _held = lock_exclusive(&path).unwrap();
        let who = holder(&path);
        assert!(
            who.starts_with(&format!("pid {} (", std::process::id())),
            "{who}"
        );
    }
}
