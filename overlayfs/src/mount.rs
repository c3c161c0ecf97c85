//! Mounting a checked configuration, and the guard that unmounts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fuser::{BackgroundSession, MountOption, Session, SessionACL};

use crate::adapter::Adapter;
use crate::fs::UnionFs;
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

fn session(config: &Config, mountpoint: &Path) -> Result<(Session<Adapter>, PathBuf), Error> {
    let (stack, mnt) = validate(config, mountpoint)?;
    let read_only = stack.upper.is_none();
    let fs = UnionFs::new(stack)
        .map_err(|e| io_err(config.workdir.as_deref().unwrap_or(Path::new("/")), e))?;
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
    fuse_config.n_threads = Some(config.threads.unwrap_or(4).max(1));
    fuse_config.clone_fd = true;
    let session = Session::new(Adapter(Arc::new(fs)), &mnt, &fuse_config)
        .map_err(|e| io_err(mountpoint, e))?;
    Ok((session, mnt))
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
}

impl MountGuard {
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
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
    let (session, mnt) = session(&config, mountpoint)?;
    let bg = session.spawn().map_err(|e| io_err(mountpoint, e))?;
    Ok(MountGuard {
        mountpoint: mnt,
        session: Some(bg),
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
    let (session, _) = session(&config, mountpoint)?;
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
