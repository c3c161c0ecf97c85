//! Checking a configuration, mounting it, and the guard that unmounts.
//!
//! Every check happens before anything is mounted, so bad input leaves
//! nothing behind; each error names the offending path.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fuser::{BackgroundSession, MountOption, Session, SessionACL};

use crate::adapter::Adapter;
use crate::fs::UnionFs;
use crate::layers::Stack;
use crate::{Config, Error};

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A directory that must exist and be listable; returns its absolute path.
fn check_dir(path: &Path, what: &str) -> Result<PathBuf, Error> {
    let abs = path.canonicalize().map_err(|e| io_err(path, e))?;
    let meta = fs::metadata(&abs).map_err(|e| io_err(path, e))?;
    if !meta.is_dir() {
        return Err(Error::Invalid(format!(
            "{}: {what} is not a directory",
            path.display()
        )));
    }
    fs::read_dir(&abs).map_err(|e| io_err(path, e))?;
    Ok(abs)
}

/// Undoes the octal escapes of /proc/self/mountinfo (`\040` for space...).
fn unescape_mountinfo(field: &str) -> Vec<u8> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Whether `path` (absolute, canonical) is already a mount point.
fn is_mount_point(path: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| unescape_mountinfo(mp) == path.as_os_str().as_bytes())
}

/// Validates `config` and `mountpoint`, returning the stack to serve and
/// the absolute mountpoint.
fn validate(config: &Config, mountpoint: &Path) -> Result<(Stack, PathBuf), Error> {
    if config.lowerdirs.is_empty() {
        return Err(Error::Invalid(
            "no lower directory given (lowerdir=)".into(),
        ));
    }
    let lowers = config
        .lowerdirs
        .iter()
        .map(|l| check_dir(l, "lower dir"))
        .collect::<Result<Vec<_>, _>>()?;
    let (upper, work) = match (&config.upperdir, &config.workdir) {
        (None, None) => (None, None),
        (Some(u), None) => {
            return Err(Error::Invalid(format!(
                "{}: upper dir given without a work dir",
                u.display()
            )));
        }
        (None, Some(w)) => {
            return Err(Error::Invalid(format!(
                "{}: work dir given without an upper dir",
                w.display()
            )));
        }
        (Some(u), Some(w)) => {
            let (u_abs, w_abs) = (check_dir(u, "upper dir")?, check_dir(w, "work dir")?);
            let dev = |p: &Path| fs::metadata(p).map(|m| m.dev()).map_err(|e| io_err(p, e));
            if dev(&u_abs)? != dev(&w_abs)? {
                return Err(Error::Invalid(format!(
                    "{}: work dir is not on the same filesystem as upper dir {}",
                    w.display(),
                    u.display()
                )));
            }
            if u_abs.starts_with(&w_abs) || w_abs.starts_with(&u_abs) {
                return Err(Error::Invalid(format!(
                    "{}: work dir and upper dir {} must not contain each other",
                    w.display(),
                    u.display()
                )));
            }
            (Some(u_abs), Some(w_abs))
        }
    };
    let mnt = mountpoint
        .canonicalize()
        .map_err(|e| io_err(mountpoint, e))?;
    if !fs::metadata(&mnt)
        .map_err(|e| io_err(mountpoint, e))?
        .is_dir()
    {
        return Err(Error::Invalid(format!(
            "{}: mountpoint is not a directory",
            mountpoint.display()
        )));
    }
    if is_mount_point(&mnt) {
        return Err(Error::Invalid(format!(
            "{}: mountpoint is busy (already a mount point)",
            mountpoint.display()
        )));
    }
    Ok((
        Stack {
            upper,
            work,
            lowers,
        },
        mnt,
    ))
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
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo("/a\\040b"), b"/a b");
        assert_eq!(unescape_mountinfo("/plain"), b"/plain");
        assert_eq!(unescape_mountinfo("/x\\"), b"/x\\");
    }

    #[test]
    fn rejects_bad_input_before_mounting() {
        let t = tempfile::tempdir().unwrap();
        let missing = t.path().join("missing");
        let cfg = Config {
            lowerdirs: vec![missing.clone()],
            ..Default::default()
        };
        let err = validate(&cfg, t.path()).unwrap_err().to_string();
        assert!(err.contains(missing.to_str().unwrap()), "{err}");
        let file = t.path().join("f");
        fs::write(&file, "").unwrap();
        let cfg = Config {
            lowerdirs: vec![t.path().into()],
            ..Default::default()
        };
        let err = validate(&cfg, &file).unwrap_err().to_string();
        assert!(err.contains("not a directory"), "{err}");
        let cfg = Config {
            lowerdirs: vec![t.path().into()],
            upperdir: Some(t.path().join("u")),
            ..Default::default()
        };
        assert!(
            validate(&cfg, t.path())
                .unwrap_err()
                .to_string()
                .contains("without a work dir")
        );
    }

    #[test]
    fn later_mount_flags_win() {
        assert!(conflicts(&MountOption::Dev, &MountOption::NoDev));
        assert!(!conflicts(&MountOption::Dev, &MountOption::NoSuid));
        assert!(mount_option("bogus").is_err());
    }
}
