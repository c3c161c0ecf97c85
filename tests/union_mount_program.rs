//! The mount program's command line (fuse-overlayfs compatible): bad input
//! gets a one-line error naming the offending path, a non-zero exit and
//! nothing mounted; a whiteout for a name no lower has just works; unknown
//! options are ignored (containers/storage passes its own); without an
//! upper dir the mount is read-only. Needs root and /dev/fuse.

mod common;
mod union_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use union_support::layers;
use union_support::mount::{Layout, Mount, Tmpfs, lowerdir_option, mounts_at, run_program_under};

/// Runs the program (under `wrapper`) and asserts it refused: non-zero exit,
/// exactly one line on stderr naming one of `culprits`, and no new mount at
/// `mnt`.
fn assert_refused_under(wrapper: &[&str], options: &str, mnt: &Path, culprits: &[&Path]) {
    let before = mounts_at(mnt);
    let out = run_program_under(wrapper, options, mnt);
    let after = mounts_at(mnt);
    if after > before {
        // Take it down before failing so nothing stays mounted.
        let _ = nix::mount::umount2(mnt, nix::mount::MntFlags::MNT_DETACH);
    }
    let what = format!("-o {options} {}", mnt.display());
    assert_eq!(
        after, before,
        "{what}: left a mount behind (exit {})",
        out.status
    );
    assert!(!out.status.success(), "{what}: exited 0");
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: wanted a one-line error, got:\n{}",
        out.stderr
    );
    let names: Vec<String> = culprits
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| lines[0].contains(n)),
        "{what}: the error names none of {names:?}: {}",
        lines[0]
    );
}

fn assert_refused(options: &str, mnt: &Path, culprit: &Path) {
    assert_refused_under(&[], options, mnt, &[culprit]);
}

fn opts(lowers: &[PathBuf], upper: &Path, work: &Path) -> String {
    format!(
        "{},upperdir={},workdir={}",
        lowerdir_option(lowers),
        upper.display(),
        work.display()
    )
}

#[test]
fn union_mount_refuses_missing_layer_dirs() {
    common::require_root_and_fuse();
    let tmp = union_support::tempdir();
    let l = Layout::create(tmp.path(), 2);
    let missing = tmp.path().join("no-such-layer");
    let lowers = [l.lowers[0].clone(), missing.clone(), l.lowers[1].clone()];
    assert_refused(&opts(&lowers, &l.upper, &l.work), &l.mnt, &missing);
    assert_refused(
        &opts(std::slice::from_ref(&missing), &l.upper, &l.work),
        &l.mnt,
        &missing,
    );
    let no_upper = tmp.path().join("no-such-upper");
    assert_refused(&opts(&l.lowers, &no_upper, &l.work), &l.mnt, &no_upper);
    let no_work = tmp.path().join("no-such-work");
    assert_refused(&opts(&l.lowers, &l.upper, &no_work), &l.mnt, &no_work);
}

#[test]
fn union_mount_refuses_a_layer_that_is_not_a_directory() {
    common::require_root_and_fuse();
    let tmp = union_support::tempdir();
    let l = Layout::create(tmp.path(), 1);
    let file = tmp.path().join("layer-file");
    std::fs::write(&file, b"not a dir").expect("write");
    assert_refused(
        &opts(&[l.lowers[0].clone(), file.clone()], &l.upper, &l.work),
        &l.mnt,
        &file,
    );
    assert_refused(&opts(&l.lowers, &file, &l.work), &l.mnt, &file);
}

#[test]
fn union_mount_refuses_an_unreadable_layer() {
    common::require_root_and_fuse();
    let tmp = union_support::tempdir();
    let l = Layout::create(tmp.path(), 2);
    layers::file(&l.lowers[1].join("secret"), b"x", 0o644);
    std::fs::set_permissions(&l.lowers[1], PermissionsExt::from_mode(0o000)).expect("chmod 000");
    // Root reads anything; without the DAC override capabilities (but
    // still with CAP_SYS_ADMIN to mount) the mode-000 layer is unreadable.
    let drop_dac = [
        "setpriv",
        "--inh-caps=-dac_override,-dac_read_search",
        "--bounding-set=-dac_override,-dac_read_search",
        "--",
    ];
    assert_refused_under(&drop_dac, &l.options(), &l.mnt, &[&l.lowers[1]]);
}

#[test]
fn union_mount_refuses_a_bad_mountpoint() {
    common::require_root_and_fuse();
    let tmp = union_support::tempdir();
    let l = Layout::create(tmp.path(), 1);
    let missing = tmp.path().join("no-such-mnt");
    assert_refused(&l.options(), &missing, &missing);
    let file = tmp.path().join("mnt-file");
    std::fs::write(&file, b"").expect("write");
    assert_refused(&l.options(), &file, &file);
    // Busy: something is already mounted there; it must stay the only mount.
    let _busy = Tmpfs::mount(&l.mnt);
    assert_refused(&l.options(), &l.mnt, &l.mnt);
    assert_eq!(
        mounts_at(&l.mnt),
        1,
        "the mount already at {} was disturbed",
        l.mnt.display()
    );
}

#[test]
fn union_mount_refuses_upper_and_work_on_different_filesystems() {
    common::require_root_and_fuse();
    let tmp = union_support::tempdir();
    let l = Layout::create(tmp.path(), 1);
    let other = tmp.path().join("tmpfs");
    let _fs = Tmpfs::mount(&other);
    let work = other.join("work");
    std::fs::create_dir(&work).expect("mkdir work on tmpfs");
    // Either path is a fair thing to name.
    assert_refused_under(
        &[],
        &opts(&l.lowers, &l.upper, &work),
        &l.mnt,
        &[&l.upper, &work],
    );
}

#[test]
fn union_mount_accepts_a_whiteout_for_a_name_no_lower_has() {
    common::require_root_and_fuse();
    let tmp = union_support::tempdir();
    let l = Layout::create(tmp.path(), 2);
    layers::whiteout(&l.lowers[0].join("ghost"));
    layers::whiteout(&l.lowers[0].join("etc/ghost"));
    layers::file(&l.lowers[0].join("etc/real"), b"top\n", 0o644);
    layers::file(&l.lowers[1].join("etc/base"), b"bottom\n", 0o644);
    // And in the bottom-most layer, where there is nothing below at all.
    layers::whiteout(&l.lowers[1].join("bottom-ghost"));
    let mount = Mount::union(&l);
    let m = mount.path();
    assert_eq!(
        union_support::snapshot::read_names(m).expect("readdir /"),
        ["etc"]
    );
    assert_eq!(
        union_support::snapshot::read_names(&m.join("etc")).expect("readdir etc"),
        ["base", "real"]
    );
    for name in ["ghost", "etc/ghost", "bottom-ghost"] {
        let err = m
            .join(name)
            .symlink_metadata()
            .expect_err("a whiteout is visible");
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "stat {name}");
        std::fs::write(m.join(name), b"now real\n")
            .unwrap_or_else(|e| panic!("create {name} over a whiteout: {e}"));
        assert_eq!(
            std::fs::read(m.join(name)).expect("read back"),
            b"now real\n"
        );
    }
    mount.unmount();
    assert_eq!(
        std::fs::read(l.upper.join("etc/ghost")).expect("upper etc/ghost"),
        b"now real\n"
    );
}

#[test]
fn union_mount_ignores_unknown_options() {
    common::require_root_and_fuse();
    let tmp = union_support::tempdir();
    let l = Layout::create(tmp.path(), 1);
    layers::file(&l.lowers[0].join("f"), b"lower\n", 0o644);
    // Options containers/storage and users pass that a union may not know.
    let options = format!(
        "{},fsync=0,noatime,strata_test_unknown_option=1",
        l.options()
    );
    let mount = Mount::union_opts(&options, &l.mnt);
    assert_eq!(
        std::fs::read(mount.path().join("f")).expect("read through the mount"),
        b"lower\n"
    );
}

#[test]
fn union_mount_without_upper_is_read_only() {
    common::require_root_and_fuse();
    let tmp = union_support::tempdir();
    let l = Layout::create(tmp.path(), 2);
    layers::file(&l.lowers[0].join("top"), b"top\n", 0o644);
    layers::file(&l.lowers[1].join("bottom"), b"bottom\n", 0o644);
    layers::whiteout(&l.lowers[0].join("hidden"));
    layers::file(&l.lowers[1].join("hidden"), b"hidden\n", 0o644);
    let mount = Mount::union_opts(&lowerdir_option(&l.lowers), &l.mnt);
    let m = mount.path();
    assert_eq!(
        union_support::snapshot::read_names(m).expect("readdir"),
        ["bottom", "top"]
    );
    assert_eq!(std::fs::read(m.join("bottom")).expect("read"), b"bottom\n");
    let erofs = |r: std::io::Result<()>, what: &str| {
        assert_eq!(
            r.expect_err(what).raw_os_error(),
            Some(libc::EROFS),
            "{what}"
        );
    };
    erofs(std::fs::write(m.join("new"), b"x"), "create");
    erofs(
        std::fs::OpenOptions::new()
            .append(true)
            .open(m.join("top"))
            .map(drop),
        "open for writing",
    );
    erofs(std::fs::remove_file(m.join("top")), "unlink");
    erofs(std::fs::create_dir(m.join("d")), "mkdir");
}
