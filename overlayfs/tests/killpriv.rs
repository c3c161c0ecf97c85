//! Privileges dropped on modification (FUSE_HANDLE_KILLPRIV_V2: the kernel
//! leaves this to the daemon): S_ISUID, and S_ISGID with group execute,
//! are cleared by a write, a truncate and an O_TRUNC open of a caller
//! without CAP_FSETID, and by any chown; `security.capability` by any
//! write, truncate or chown. Checked on lower files (copied up by the
//! change) and upper files, with passthrough on and off, and against
//! kernel overlayfs on the same layers. Root + /dev/fuse + overlay.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::*;

/// The user that writes (group of the `sgid` files, so S_ISGID without
/// group execute stays for the kernel too: see docs/overlayfs.md).
const USER: u32 = 1000;

/// `security.capability` granting cap_net_raw+ep (vfs_cap_data rev. 2).
const CAP: &str = "0x0100000200200000000000000000000000000000";

/// Files of the scenario: name, mode, group.
const FILES: &[(&str, u32, u32)] = &[
    ("w_suid", 0o4777, 0),
    ("w_sgidx", 0o2777, 0),
    ("w_sgid", 0o2767, USER),
    ("t_suid", 0o6777, 0),
    ("o_suid", 0o6777, 0),
    ("root_suid", 0o6777, 0),
    ("fa_suid", 0o6777, 0),
    ("cfr_suid", 0o6777, 0),
    ("chown_suid", 0o6755, 0),
    ("chown_sgid", 0o2745, 0),
    ("cap_root", 0o666, 0),
    ("cap_user", 0o666, 0),
    ("cap_trunc", 0o666, 0),
    ("cap_chown", 0o666, 0),
];

/// Creates the scenario's files in `dir` with prefix `p`.
fn prepare(dir: &Path, p: &str) {
    for (name, mode, gid) in FILES {
        let f = dir.join(format!("{p}{name}"));
        fs::write(&f, "data").unwrap();
        std::os::unix::fs::chown(&f, Some(0), Some(*gid)).unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(*mode)).unwrap();
        if name.starts_with("cap_") {
            let out = setxattr(&f, "security.capability", CAP);
            assert!(out.status.success(), "{out:?}");
        }
    }
    std::os::unix::fs::symlink(format!("{p}w_suid"), dir.join(format!("{p}link"))).unwrap();
    let public = dir.join(format!("{p}pub"));
    fs::create_dir(&public).unwrap();
    fs::set_permissions(&public, fs::Permissions::from_mode(0o777)).unwrap();
}

/// Runs the modifications on the files with prefix `p` in `root` and
/// returns what is left of each one's privileges.
fn modify(root: &Path, p: &str) -> Vec<String> {
    let f = |name: &str| root.join(format!("{p}{name}")).display().to_string();
    // copy_file_range(2) itself (cp would open with O_TRUNC).
    let cfr = format!(
        "'import os; s = os.open(\"{}\", os.O_RDONLY); \
         d = os.open(\"{}\", os.O_WRONLY); os.copy_file_range(s, d, 2, 0, 4)'",
        f("w_sgid"),
        f("cfr_suid")
    );
    // A file created setuid by the writer (never given passthrough).
    let new = format!(
        "'import os; d = os.open(\"{}\", os.O_CREAT | os.O_WRONLY, 0o4777); \
         os.write(d, b\"x\")'",
        f("pub/new")
    );
    let script = format!(
        "printf x >> {w_suid} && printf x >> {w_sgidx} && printf x >> {w_sgid} \
         && truncate -s 1 {t_suid} && : > {o_suid} && printf x >> {cap_user} \
         && truncate -s 0 {cap_trunc} && fallocate -l 8192 {fa_suid} \
         && python3 -c {cfr} && umask 0 && python3 -c {new}",
        w_suid = f("w_suid"),
        w_sgidx = f("w_sgidx"),
        w_sgid = f("w_sgid"),
        t_suid = f("t_suid"),
        o_suid = f("o_suid"),
        cap_user = f("cap_user"),
        cap_trunc = f("cap_trunc"),
        fa_suid = f("fa_suid"),
    );
    let out = as_user(USER, USER, &script);
    assert!(out.status.success(), "{out:?}");
    // Root (CAP_FSETID) writes: S_ISUID stays, the capability goes.
    for name in ["root_suid", "cap_root"] {
        let mut w = fs::OpenOptions::new().append(true).open(f(name)).unwrap();
        std::io::Write::write_all(&mut w, b"x").unwrap();
    }
    for name in ["chown_suid", "chown_sgid", "cap_chown"] {
        std::os::unix::fs::chown(f(name), Some(USER), None).unwrap();
    }
    // The kernel asks to drop the bits with any non-directory chown
    // (FATTR_KILL_SUIDGID), a symlink's too.
    std::os::unix::fs::lchown(f("link"), Some(USER), Some(USER)).unwrap();
    let link = fs::symlink_metadata(f("link")).unwrap();
    assert_eq!((link.uid(), link.gid()), (USER, USER));
    FILES
        .iter()
        .map(|(name, _, _)| *name)
        .chain(["pub/new"])
        .map(|name| {
            let m = fs::metadata(f(name)).unwrap();
            let cap = getxattr(Path::new(&f(name)), "security.capability").is_some();
            format!("{name} {:o} cap={cap} size={}", m.mode() & 0o7777, m.len())
        })
        .collect()
}

/// What the kernel does (and overlayfs with it), spelt out so that a
/// union that drops nothing, or everything, fails too.
fn expected() -> Vec<String> {
    [
        "w_suid 777 cap=false size=5",
        "w_sgidx 777 cap=false size=5",
        "w_sgid 2767 cap=false size=5",
        "t_suid 777 cap=false size=1",
        "o_suid 777 cap=false size=0",
        "root_suid 6777 cap=false size=5",
        "fa_suid 777 cap=false size=8192",
        "cfr_suid 777 cap=false size=6",
        "chown_suid 755 cap=false size=4",
        "chown_sgid 2745 cap=false size=4",
        "cap_root 666 cap=false size=5",
        "cap_user 666 cap=false size=5",
        "cap_trunc 666 cap=false size=0",
        "cap_chown 666 cap=false size=4",
        "pub/new 777 cap=false size=1",
    ]
    .map(String::from)
    .to_vec()
}

/// Lets USER reach the mount point below the test's temporary directory.
fn open_up(dir: &Path) {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Lower files (`l_`, copied up by the change) and upper files (`u_`,
/// made through the mount) of a strata union.
fn strata(passthrough: bool) -> (Vec<String>, Vec<String>) {
    let l = layers(1);
    open_up(l.dir.path());
    prepare(&l.lower(0, ""), "l_");
    let u = l.mount_passthrough(passthrough);
    prepare(&u.m(""), "u_");
    (modify(&u.m(""), "l_"), modify(&u.m(""), "u_"))
}

/// The same on kernel overlayfs.
fn kernel() -> (Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    open_up(dir.path());
    let _unmount = kernel_overlay(dir.path(), |lower| prepare(lower, "l_"));
    let mnt = dir.path().join("mnt");
    prepare(&mnt, "u_");
    (modify(&mnt, "l_"), modify(&mnt, "u_"))
}

#[test]
fn kernel_overlayfs_drops_what_the_test_expects() {
    let (lower, upper) = kernel();
    assert_eq!(lower, expected());
    assert_eq!(upper, expected());
}

#[test]
fn privileges_dropped_with_passthrough() {
    let (lower, upper) = strata(true);
    assert_eq!(lower, expected(), "lower files (copy-up)");
    assert_eq!(upper, expected(), "upper files");
}

#[test]
fn privileges_dropped_without_passthrough() {
    let (lower, upper) = strata(false);
    assert_eq!(lower, expected(), "lower files (copy-up)");
    assert_eq!(upper, expected(), "upper files");
}

/// A write marks the inode S_NOSEC in the kernel (no more checks before
/// writes); a capability or S_ISUID added afterwards must still go with
/// the next write.
fn privileges_added_after_a_write(passthrough: bool) {
    let l = layers(1);
    open_up(l.dir.path());
    let u = l.mount_passthrough(passthrough);
    let f = u.m("f");
    fs::write(&f, "data").unwrap();
    fs::set_permissions(&f, fs::Permissions::from_mode(0o666)).unwrap();
    let append = format!("printf x >> {}", f.display());
    assert!(as_user(USER, USER, &append).status.success());
    assert!(setxattr(&f, "security.capability", CAP).status.success());
    assert!(getxattr(&f, "security.capability").is_some());
    assert!(as_user(USER, USER, &append).status.success());
    assert_eq!(getxattr(&f, "security.capability"), None);
    fs::set_permissions(&f, fs::Permissions::from_mode(0o4777)).unwrap();
    assert!(as_user(USER, USER, &append).status.success());
    let m = fs::metadata(&f).unwrap();
    assert_eq!((m.mode() & 0o7777, m.len()), (0o777, 7));
}

#[test]
fn privileges_added_after_a_write_are_dropped_with_passthrough() {
    privileges_added_after_a_write(true);
}

#[test]
fn privileges_added_after_a_write_are_dropped_without_passthrough() {
    privileges_added_after_a_write(false);
}
