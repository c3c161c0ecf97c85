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
use std::path::{Path, PathBuf};

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

/// Blocks until `path` is locked exclusively.
pub fn lock_exclusive(path: &Path) -> Result<FileLock> {
    lock(path, FlockArg::LockExclusive)?.ok_or_else(|| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other("blocking lock returned would-block"),
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
