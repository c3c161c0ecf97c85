//! Image leases beyond a process's own session: images a build works from,
//! and images mounted with `image mount -d`, whose mount outlives the
//! strata process that made it.
//!
//! A mount lease is a session of its own (`tmp/session-*` + its `.lock`)
//! whose lock is handed to the mount's server process: the descriptor is
//! inherited by `strata-overlayfs`, which holds the flock for as long as it
//! serves. The session dir records the mount point (file `mountpoint`).
//! When the server ends (`image umount`, a plain `umount`, a crash), the
//! kernel drops the flock and the session is dead: its lease goes with the
//! next expiry like any dead session's. So the lease can never outlive the
//! mount, and a live mount always has one.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::params;

use super::Store;
use super::digest::ImageId;
use super::error::{Error, Result, io_err};
use super::lock::{self, Session};

/// File in a mount session's dir naming the mount point.
const MOUNTPOINT_FILE: &str = "mountpoint";

/// A lease on an image for a mount, until [`MountLease::hand_over`] gives
/// its lock to the serving process (or it is dropped: lease gone).
pub struct MountLease<'a> {
    store: &'a Store,
    session: Option<Session>,
}

impl MountLease<'_> {
    /// A descriptor of the session lock without close-on-exec: a child
    /// spawned while it is open inherits the lock (same open file
    /// description). Close it once the child is started.
    pub fn inheritable_lock(&self) -> Result<OwnedFd> {
        let s = self.session.as_ref().ok_or_else(handed_over)?;
        // dup(2) clears FD_CLOEXEC on the copy.
        nix::unistd::dup(s.lock_file()).map_err(|e| Error::Io {
            path: s.dir().to_path_buf(),
            source: e.into(),
        })
    }

    /// The server holds the lock now: keep the session's files and row.
    pub fn hand_over(mut self) {
        if let Some(s) = self.session.take() {
            s.keep();
        }
    }
}

fn handed_over() -> Error {
    Error::Io {
        path: PathBuf::from("mount lease"),
        source: std::io::Error::other("already handed over"),
    }
}

impl Drop for MountLease<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            let _ = self.store.conn().execute(
                "DELETE FROM image_leases WHERE session = ?1",
                params![s.name()],
            );
        }
    }
}

impl Store {
    /// Leases `image` to this handle's session (until the handle drops):
    /// a build holds the images it builds on, so `image rm` + prune during
    /// the build cannot take their layers from under its mounts. Fails when
    /// the image is gone already.
    pub fn lease_image(&self, image: &ImageId) -> Result<()> {
        let session = self.session()?.name().to_string();
        self.conn()
            .execute(
                "INSERT OR IGNORE INTO image_leases (image_id, session) VALUES (?1, ?2)",
                params![image.as_str(), session],
            )
            .map_err(|_| Error::NoSuchImage(image.to_string()))?;
        Ok(())
    }

    /// A lease on `image` for a mount at `mountpoint`; see the module doc.
    pub fn lease_for_mount(&self, image: &ImageId, mountpoint: &Path) -> Result<MountLease<'_>> {
        let session = {
            let _guard = self.lock_store()?;
            Session::create(&self.layout().tmp())?
        };
        let file = session.dir().join(MOUNTPOINT_FILE);
        let point = mountpoint.canonicalize().map_err(io_err(mountpoint))?;
        fs::write(&file, point.as_os_str().as_encoded_bytes()).map_err(io_err(&file))?;
        let lease = MountLease {
            store: self,
            session: Some(session),
        };
        let name = lease.session.as_ref().map(|s| s.name().to_string());
        self.conn()
            .execute(
                "INSERT INTO image_leases (image_id, session) VALUES (?1, ?2)",
                params![image.as_str(), name],
            )
            .map_err(|_| Error::NoSuchImage(image.to_string()))?;
        Ok(lease)
    }

    /// Mount points of live mount leases on `image`.
    pub fn mounts_of(&self, image: &ImageId) -> Result<Vec<PathBuf>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT session FROM image_leases WHERE image_id = ?1")
            .map_err(self.db_err())?;
        let sessions = stmt
            .query_map([image.as_str()], |r| r.get::<_, String>(0))
            .map_err(self.db_err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.db_err())?;
        let tmp = self.layout().tmp();
        let mut out = Vec::new();
        for s in sessions {
            let Ok(point) = fs::read_to_string(tmp.join(&s).join(MOUNTPOINT_FILE)) else {
                continue;
            };
            if lock::try_lock_exclusive(&tmp.join(format!("{s}.lock")))?.is_none() {
                out.push(PathBuf::from(point));
            }
        }
        Ok(out)
    }

    /// After `mountpoint` was unmounted: waits (up to `wait`) for its
    /// server to end, then ends its lease. A server still running after
    /// that keeps the lease; it ends with the server.
    pub fn release_mount(&self, mountpoint: &Path, wait: Duration) -> Result<()> {
        let tmp = self.layout().tmp();
        let point = mountpoint
            .canonicalize()
            .unwrap_or_else(|_| mountpoint.to_path_buf());
        let mut mine = Vec::new();
        for entry in fs::read_dir(&tmp).map_err(io_err(&tmp))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let recorded = fs::read_to_string(entry.path().join(MOUNTPOINT_FILE));
            if recorded.is_ok_and(|r| Path::new(&r) == point) {
                mine.push(tmp.join(format!("{name}.lock")));
            }
        }
        let deadline = Instant::now() + wait;
        for lock_path in mine {
            while lock::try_lock_exclusive(&lock_path)?.is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _guard = self.lock_store()?;
        self.expire_dead_sessions()?;
        Ok(())
    }
}
