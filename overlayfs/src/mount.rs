//! Mounting a checked configuration, and the guard that unmounts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fuser::{BackgroundSession, MountOption, Session, SessionACL};

use crate::adapter::Adapter;
use crate::fs::{Chore, UnionFs};
use crate::validate::validate;
use crate::{Config, Error};

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn mount_option(opt: &str) -> Result<MountOption, Error> {
    Ok(match opt {
        "nodev" => MountOption::NoDev,
        "dev" => MountOption::Dev,
        "nosuid" => MountOption::NoSuid,
        "suid" => MountOption::Suid,
        "noexec" => MountOption::NoExec,
        "exec" => MountOption::Exec,
        "noatime" => MountOption::NoAtime,
        "atime" => MountOption::Atime,
        "dirsync" => MountOption::DirSync,
        "sync" => MountOption::Sync,
        "ro" => MountOption::RO,
        "rw" => MountOption::RW,
        o if o.starts_with("fsname=") => MountOption::FSName(o["fsname=".len()..].to_string()),
        o => return Err(Error::Invalid(format!("unsupported mount option {o:?}"))),
    })
}

type Served = (Session<Adapter>, PathBuf, Arc<UnionFs>);

fn session(config: &Config, mountpoint: &Path) -> Result<Served, Error> {
    let (stack, mnt) = validate(config, mountpoint)?;
    crate::sys::tune_allocator();
    let read_only = stack.upper.is_none();
    let mut fs = UnionFs::new(stack)
        .map_err(|e| io_err(config.workdir.as_deref().unwrap_or(Path::new("/")), e))?;
    fs.set_dir_cache(config.dir_cache);
    let mut opts = vec![
        MountOption::DefaultPermissions,
        MountOption::Dev,
        MountOption::Suid,
    ];
    if read_only {
        opts.push(MountOption::RO);
    }
    if !config
        .mount_options
        .iter()
        .any(|o| o.starts_with("fsname="))
    {
        opts.push(MountOption::FSName("strata-overlayfs".into()));
    }
    opts.push(MountOption::Subtype("strata-overlayfs".into()));
    for o in &config.mount_options {
        let opt = mount_option(o)?;
        // Later flags override the defaults above (nodev over dev...).
        opts.retain(|x| !conflicts(x, &opt));
        opts.push(opt);
    }
    let mut fuse_config = fuser::Config::default();
    fuse_config.mount_options = opts;
    fuse_config.acl = SessionACL::All;
    fuse_config.n_threads = Some(config.threads.unwrap_or_else(default_threads).max(1));
    // Each thread reads its own clone of /dev/fuse (no shared queue lock).
    fuse_config.clone_fd = true;
    let fs = Arc::new(fs);
    let adapter = Adapter::new(fs.clone(), !config.disable_passthrough, config.io_uring)
        .with_acl(!config.disable_acl);
    let session = Session::new(adapter, &mnt, &fuse_config).map_err(|e| io_err(mountpoint, e))?;
    log_transport(&session, config);
    start_invalidator(&fs, session.notifier());
    Ok((session, mnt, fs))
}

/// Says once which way requests travel (INIT has settled it by now).
fn log_transport(session: &Session<Adapter>, config: &Config) {
    match session.io_uring_queues() {
        Some(n) => log::info!("requests: FUSE over io_uring ({n} queues, one per CPU)"),
        None if !config.io_uring => log::info!("requests: /dev/fuse (io_uring=off)"),
        None if uring_enabled() => log::info!("requests: /dev/fuse (no io_uring)"),
        None => log::info!(
            "requests: /dev/fuse (the kernel offers no io_uring: fuse enable_uring is off)"
        ),
    }
}

/// The fuse module parameter that lets the kernel offer FUSE over
/// io_uring. Only read: setting it is the administrator's (scripts/setup).
fn uring_enabled() -> bool {
    std::fs::read_to_string("/sys/module/fuse/parameters/enable_uring")
        .is_ok_and(|v| v.trim() == "Y")
}

/// Session threads: one per core, at least 2 (a copy-up or an fsync holds
/// a thread for its whole length), at most 8. More threads than cores made
/// sequential metadata work slower here (each request may wake a cold
/// thread): `find` over 15k entries took 0.9-1.2 s with 1-2 threads and
/// 1.5-2 s with 4 on 2 cores. File data with passthrough needs none.
fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8)
}

/// Housekeeping thread: forwards invalidations of attributes and listings
/// from the core to the kernel (a notification must never be sent from
/// inside a request handler, where the kernel may hold the inode's lock),
/// and hands freed memory back to the system once things are quiet
/// (`Chore::Trim`; it is done after a quiet moment, so a burst of FORGETs
/// ends in one trim). It holds the core weakly and ends when the core (and
/// its sender) is dropped with the session.
fn start_invalidator(fs: &Arc<UnionFs>, notifier: fuser::Notifier) {
    use std::sync::mpsc::RecvTimeoutError;
    const QUIET: std::time::Duration = std::time::Duration::from_millis(200);
    let (tx, rx) = std::sync::mpsc::channel::<Chore>();
    fs.set_invalidator(tx);
    let weak = Arc::downgrade(fs);
    let spawned = std::thread::Builder::new()
        .name("strata-housekeeping".into())
        .spawn(move || {
            let mut trim_pending = false;
            loop {
                let msg = if trim_pending {
                    rx.recv_timeout(QUIET)
                } else {
                    rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
                };
                match msg {
                    Ok(Chore::Trim) => trim_pending = true,
                    // Offset -1: attributes only, no page cache range.
                    // ENOENT just means the kernel forgot the inode.
                    Ok(Chore::Attrs(ino)) => {
                        let _ = notifier.inval_inode(fuser::INodeNo(ino), -1, 0);
                    }
                    // A directory's page cache is its cached listing
                    // (FOPEN_CACHE_DIR): dropping its pages (offset 0,
                    // length 0: all) makes the next read reset the cache.
                    Ok(Chore::Listing(ino, done)) => {
                        let _ = notifier.inval_inode(fuser::INodeNo(ino), 0, 0);
                        let _ = done.send(());
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        trim_pending = false;
                        match weak.upgrade() {
                            Some(fs) => fs.trim_if_wanted(),
                            None => return,
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        });
    if let Err(e) = spawned {
        log::warn!("no housekeeping thread ({e}): attributes may stay cached up to their TTL");
    }
}

fn conflicts(a: &MountOption, b: &MountOption) -> bool {
    use MountOption::*;
    let pair = |x: &MountOption, y: &MountOption| {
        matches!(
            (x, y),
            (Dev, NoDev) | (Suid, NoSuid) | (Exec, NoExec) | (Atime, NoAtime) | (RO, RW)
        )
    };
    a == b || pair(a, b) || pair(b, a) || matches!((a, b), (FSName(_), FSName(_)))
}

/// A mounted union; unmounts (and stops serving) when dropped.
#[derive(Debug)]
pub struct MountGuard {
    mountpoint: PathBuf,
    session: Option<BackgroundSession>,
    fs: Arc<UnionFs>,
}

/// What a mounted union holds in memory (for tests and diagnostics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Inodes in the table (the root included).
    pub inodes: usize,
    /// Backing objects whose inode number is kept (looked up or listed).
    pub keys: usize,
    pub open_files: usize,
    pub open_dirs: usize,
}

impl MountGuard {
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// A snapshot of what the union keeps in memory. Nodes the kernel has
    /// forgotten are gone from it (see `Table::forget`).
    pub fn stats(&self) -> Stats {
        self.fs.stats()
    }

    /// Unmounts and waits for the serving threads to end. Fails (and
    /// stays mounted) if the mount is busy.
    pub fn unmount(mut self) -> Result<(), Error> {
        match self.session.take() {
            Some(s) => s.umount_and_join().map_err(|e| io_err(&self.mountpoint, e)),
            None => Ok(()),
        }
    }
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        if let Err(e) = session.umount_and_join() {
            // Busy: detach lazily so the mount goes away once unused; the
            // serving threads end with it.
            log::warn!(
                "{}: unmount failed ({e}), detaching",
                self.mountpoint.display()
            );
            let _ = nix::mount::umount2(&self.mountpoint, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// Mount `config` at `mountpoint`, serving it from background threads.
/// Returns once the kernel has completed the FUSE handshake.
pub fn mount(config: Config, mountpoint: &Path) -> Result<MountGuard, Error> {
    let (session, mnt, fs) = session(&config, mountpoint)?;
    let bg = session.spawn().map_err(|e| io_err(mountpoint, e))?;
    Ok(MountGuard {
        mountpoint: mnt,
        session: Some(bg),
        fs,
    })
}

/// Mount `config` at `mountpoint` and serve it in this thread until unmounted.
pub fn serve(config: Config, mountpoint: &Path) -> Result<(), Error> {
    serve_with_ready(config, mountpoint, || {})
}

/// Like [`serve`], calling `ready` once the mount is usable (the mount
/// program uses it to let its parent exit).
pub fn serve_with_ready(
    config: Config,
    mountpoint: &Path,
    ready: impl FnOnce(),
) -> Result<(), Error> {
    let (session, _, _) = session(&config, mountpoint)?;
    ready();
    session.run().map_err(|e| io_err(mountpoint, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_can_move_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<MountGuard>();
    }

    #[test]
    fn later_mount_flags_win() {
        assert!(conflicts(&MountOption::Dev, &MountOption::NoDev));
        assert!(!conflicts(&MountOption::Dev, &MountOption::NoSuid));
        assert!(mount_option("bogus").is_err());
    }
}
