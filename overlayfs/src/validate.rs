//! Checking a configuration before anything is mounted, so bad input
//! leaves nothing behind; each error names the offending path.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::layers::Stack;
use crate::{Config, Error, markers};

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
pub fn unescape_mountinfo(field: &str) -> Vec<u8> {
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
pub fn validate(config: &Config, mountpoint: &Path) -> Result<(Stack, PathBuf), Error> {
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
    if config.check_whiteouts {
        check_whiteouts(&lowers)?;
    }
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
            // Lowers are read-only: writing upper or work must not change them.
            if let Some(l) = lowers.iter().find(|l| {
                [&u_abs, &w_abs]
                    .iter()
                    .any(|d| d.starts_with(l) || l.starts_with(d))
            }) {
                return Err(Error::Invalid(format!(
                    "{}: upper/work dir overlaps lower dir {}",
                    u.display(),
                    l.display()
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
    // The daemon reaches the layers by path: a layer under the mountpoint,
    // or the mountpoint under a layer, would send it into its own mount.
    for layer in lowers.iter().chain(&upper).chain(&work) {
        if layer.starts_with(&mnt) || mnt.starts_with(layer) {
            return Err(Error::Invalid(format!(
                "{}: mountpoint overlaps layer {}",
                mountpoint.display(),
                layer.display()
            )));
        }
    }
    Ok((
        Stack {
            upper,
            work,
            lowers,
            index: Default::default(),
            upper_markers: Default::default(),
        },
        mnt,
    ))
}

/// A whiteout in a lower layer must hide something in a layer below it.
/// One that hides nothing usually means the lowerdirs are given in the
/// wrong order (they are top-most first). The bottom layer, usually the
/// biggest, is not walked: nothing is below it, so its whiteouts (which a
/// base layer never has) are harmless.
fn check_whiteouts(lowers: &[PathBuf]) -> Result<(), Error> {
    for (i, top) in lowers
        .iter()
        .enumerate()
        .take(lowers.len().saturating_sub(1))
    {
        walk_whiteouts(top, Path::new(""), &mut |rel, name| {
            let below = &lowers[i + 1..];
            let hides = below.iter().any(|l| {
                let p = l.join(rel).join(name);
                p.symlink_metadata()
                    .is_ok_and(|m| !markers::is_whiteout(&m))
            });
            if hides {
                return Ok(());
            }
            Err(Error::Invalid(format!(
                "{}: whiteout of a name no lower layer has (lowerdirs must be top-most first)",
                top.join(rel).join(name).display()
            )))
        })?;
    }
    Ok(())
}

/// Calls `found(dir, name)` for every whiteout under `root` (both formats),
/// `dir` relative to `root`. Does not follow symlinks.
fn walk_whiteouts(
    root: &Path,
    rel: &Path,
    found: &mut dyn FnMut(&Path, &OsStr) -> Result<(), Error>,
) -> Result<(), Error> {
    let dir = root.join(rel);
    let entries = fs::read_dir(&dir).map_err(|e| io_err(&dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_err(&dir, e))?;
        let name = entry.file_name();
        if let Some(target) = markers::whiteout_target(&name) {
            found(rel, target)?;
            continue;
        }
        let ft = entry.file_type().map_err(|e| io_err(&entry.path(), e))?;
        if ft.is_dir() {
            walk_whiteouts(root, &rel.join(&name), found)?;
        } else if std::os::unix::fs::FileTypeExt::is_char_device(&ft) {
            let meta = entry.metadata().map_err(|e| io_err(&entry.path(), e))?;
            if markers::is_whiteout(&meta) {
                found(rel, &name)?;
            }
        }
    }
    Ok(())
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
        let mnt = t.path().join("m");
        fs::create_dir(&mnt).unwrap();
        let cfg = Config {
            lowerdirs: vec![t.path().into()],
            ..Default::default()
        };
        let err = validate(&cfg, &mnt).unwrap_err().to_string();
        assert!(err.contains("overlaps layer"), "{err}");
        let (lower, other) = (t.path().join("l"), t.path().join("o"));
        fs::create_dir_all(lower.join("u")).unwrap();
        fs::create_dir_all(lower.join("w")).unwrap();
        fs::create_dir_all(&other).unwrap();
        let cfg = Config {
            lowerdirs: vec![lower.clone()],
            upperdir: Some(lower.join("u")),
            workdir: Some(lower.join("w")),
            ..Default::default()
        };
        let err = validate(&cfg, &other).unwrap_err().to_string();
        assert!(err.contains("overlaps lower dir"), "{err}");
    }

    #[test]
    fn dangling_whiteouts_mean_wrong_layer_order() {
        let t = tempfile::tempdir().unwrap();
        let (top, bottom) = (t.path().join("top"), t.path().join("bottom"));
        fs::create_dir_all(top.join("d")).unwrap();
        fs::create_dir_all(bottom.join("d")).unwrap();
        fs::write(bottom.join("d/x"), "").unwrap();
        fs::write(top.join("d/.wh.x"), "").unwrap();
        check_whiteouts(&[top.clone(), bottom.clone()]).unwrap();
        let err = check_whiteouts(&[bottom.clone(), top.clone()]);
        assert!(err.is_ok(), "the bottom layer is not walked");
        fs::write(top.join(".wh.nothing"), "").unwrap();
        let err = check_whiteouts(&[top.clone(), bottom])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("nothing") && err.contains("top-most first"),
            "{err}"
        );
    }
}
