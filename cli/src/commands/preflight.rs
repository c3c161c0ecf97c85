//! What a command needs before it starts, checked up front so that a
//! missing piece is one clear `Error:` line with its fix instead of a
//! failure deep inside a mount or a namespace: root (every command that
//! touches the store, for now) and FUSE (commands that mount images).

use std::path::Path;

use anyhow::bail;

/// What a command needs from the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Nothing,
    Root,
    RootAndFuse,
}

/// Fails with the fix when the machine lacks what `needs` asks for.
pub fn check(needs: Needs) -> anyhow::Result<()> {
    if needs == Needs::Nothing {
        return Ok(());
    }
    let uid = nix::unistd::Uid::effective();
    if !uid.is_root() {
        bail!(
            "strata needs root for now (it runs as uid {uid}): it mounts filesystems and creates namespaces; run it as root (sudo strata ...)"
        );
    }
    if needs == Needs::RootAndFuse {
        fuse()?;
    }
    Ok(())
}

/// /dev/fuse (the kernel side) and fusermount3 (FUSE's mount helper, which
/// the FUSE library falls back on when a direct mount is refused, and which
/// unmounts `strata-overlayfs` mounts): both come with Debian's fuse3.
fn fuse() -> anyhow::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let dev = Path::new("/dev/fuse");
    let is_char = std::fs::metadata(dev).is_ok_and(|m| m.file_type().is_char_device());
    if !is_char {
        bail!(
            "/dev/fuse is missing: strata mounts images through FUSE; install fuse3 (apt-get install fuse3) and load the module (modprobe fuse)"
        );
    }
    if find_in_path("fusermount3").is_none() {
        bail!(
            "fusermount3 not found in PATH: strata's FUSE mounts need it; install fuse3 (apt-get install fuse3)"
        );
    }
    Ok(())
}

fn find_in_path(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}
