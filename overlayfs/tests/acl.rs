//! POSIX ACLs (FUSE_POSIX_ACL): the same scenario on kernel overlayfs and
//! on strata gives the same results. ACLs granting and denying a
//! non-owner user on lower files (copied up by the change) and upper
//! files, chmod updating the mask, default ACLs inherited by files and
//! dirs made by root (made in place in upper) and by another user (built
//! in the scratch dir), copy-up keeping ACLs, removing an ACL. Values are
//! made and read by setfacl/getfacl (package `acl`). Root + /dev/fuse +
//! overlay.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::*;

/// The non-owner user the ACLs name.
const USER: u32 = 1000;

fn run(cmd: &str, args: &[&str], path: &Path) -> String {
    let out = Command::new(cmd).args(args).arg(path).output().unwrap();
    assert!(out.status.success(), "{cmd} {args:?} {path:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn setfacl(path: &Path, args: &[&str]) {
    run("setfacl", args, path);
}

/// The ACLs of `path` (numeric ids, no header), one line.
fn getfacl(path: &Path) -> String {
    run("getfacl", &["-c", "-n"], path)
        .lines()
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

/// Mode and ACLs of `path`, for the results.
fn describe(path: &Path) -> String {
    let mode = fs::symlink_metadata(path).unwrap().mode() & 0o7777;
    format!("{mode:o} {}", getfacl(path))
}

/// Whether USER can read `path`.
fn user_reads(path: &Path) -> bool {
    as_user(USER, USER, &format!("cat {} >/dev/null", path.display()))
        .status
        .success()
}

/// Files of the scenario with prefix `p` in `dir` (lower before the
/// mount, or the mount itself for upper files), owned by root.
fn prepare(dir: &Path, p: &str) {
    let f = |n: &str| dir.join(format!("{p}{n}"));
    for name in ["grant", "deny", "chmod", "strip"] {
        fs::write(f(name), "data").unwrap();
    }
    fs::set_permissions(f("grant"), fs::Permissions::from_mode(0o600)).unwrap();
    setfacl(&f("grant"), &["-m", &format!("u:{USER}:r")]);
    // Others may read, the named entry denies.
    fs::set_permissions(f("deny"), fs::Permissions::from_mode(0o644)).unwrap();
    setfacl(&f("deny"), &["-m", &format!("u:{USER}:-")]);
    fs::set_permissions(f("chmod"), fs::Permissions::from_mode(0o640)).unwrap();
    setfacl(&f("chmod"), &["-m", &format!("u:{USER}:rw")]);
    fs::set_permissions(f("strip"), fs::Permissions::from_mode(0o644)).unwrap();
    // (Not with an empty mask: the kernel reads the ACL only when the
    // group class has a bit, else others' bits apply to named users too.)
    setfacl(&f("strip"), &["-m", &format!("u:{USER}:-")]);
    // Setgid files of USER's, outside its group and in it, for USER to
    // set an ACL on (outside: S_ISGID goes).
    for (name, gid) in [("sgid_out", 0), ("sgid_in", USER)] {
        fs::write(f(name), "data").unwrap();
        std::os::unix::fs::chown(f(name), Some(USER), Some(gid)).unwrap();
        fs::set_permissions(f(name), fs::Permissions::from_mode(0o2775)).unwrap();
    }
    // USER may create in `inherit` (access entry) and what is made there
    // inherits the default ACL.
    fs::create_dir(f("inherit")).unwrap();
    fs::set_permissions(f("inherit"), fs::Permissions::from_mode(0o755)).unwrap();
    setfacl(
        &f("inherit"),
        &[
            "-m",
            &format!("u:{USER}:rwx,d:u:{USER}:rwx,d:g::r-x,d:o::-"),
        ],
    );
    // A default ACL with no named entries: new objects get a mode only.
    fs::create_dir(f("plain")).unwrap();
    fs::set_permissions(f("plain"), fs::Permissions::from_mode(0o777)).unwrap();
    setfacl(&f("plain"), &["-d", "-m", "u::rwx,g::rx,o::x"]);
}

/// Runs the scenario on the files with prefix `p` in union `mnt` (its
/// upper layer at `upper`) and returns what it saw, one line a step.
fn scenario(mnt: &Path, upper: &Path, p: &str) -> Vec<String> {
    let f = |n: &str| mnt.join(format!("{p}{n}"));
    let mut out = Vec::new();
    let mut note = |k: &str, v: String| out.push(format!("{p}{k}: {v}"));
    note("grant reads", user_reads(&f("grant")).to_string());
    note("deny reads", user_reads(&f("deny")).to_string());
    note("chmod reads before", user_reads(&f("chmod")).to_string());
    // Group bits are the mask with an ACL: 0600 takes USER's read away.
    fs::set_permissions(f("chmod"), fs::Permissions::from_mode(0o600)).unwrap();
    note("chmod 600", describe(&f("chmod")));
    note("chmod reads 600", user_reads(&f("chmod")).to_string());
    fs::set_permissions(f("chmod"), fs::Permissions::from_mode(0o660)).unwrap();
    note("chmod 660", describe(&f("chmod")));
    note("chmod reads 660", user_reads(&f("chmod")).to_string());
    note("chmod upper", describe(&upper.join(format!("{p}chmod"))));
    note("strip reads before", user_reads(&f("strip")).to_string());
    setfacl(&f("strip"), &["-b"]);
    note("strip", describe(&f("strip")));
    note("strip reads after", user_reads(&f("strip")).to_string());
    // Removing an ACL that is not there succeeds (it sets none).
    let remove = format!(
        "python3 -c 'import os; os.removexattr(\"{}\", \"system.posix_acl_access\")'",
        f("strip").display()
    );
    let removed = Command::new("sh").arg("-c").arg(&remove).status().unwrap();
    note("strip remove again", removed.success().to_string());
    for name in ["sgid_out", "sgid_in"] {
        let set = format!("setfacl -m u:{}:r {}", USER + 1, f(name).display());
        let done = as_user(USER, USER, &set).status.success();
        note(&format!("{name} set by owner"), done.to_string());
        note(name, describe(&f(name)));
    }
    // Root (umask 022) with modes its umask leaves alone (made in place
    // where the daemon's umask allows) and the usual 0666/0777; USER
    // (another owner: built in the scratch dir).
    for dir in ["inherit", "plain"] {
        let d = f(dir);
        let make = |prefix: &str, file_mode: u32, dir_mode: u32| {
            format!(
                "umask 022 && python3 -c 'import os; \
                 os.close(os.open(\"{d}/{prefix}f\", os.O_CREAT | os.O_WRONLY, {file_mode:#o})); \
                 os.mkdir(\"{d}/{prefix}d\", {dir_mode:#o})'",
                d = d.display()
            )
        };
        for (who, uid, fm, dm) in [
            ("root_exact_", 0, 0o640, 0o750),
            ("root_", 0, 0o666, 0o777),
            ("user_", USER, 0o666, 0o777),
        ] {
            let made = as_user(uid, uid, &make(who, fm, dm)).status.success();
            note(&format!("{dir}/{who} made"), made.to_string());
            if !made {
                continue;
            }
            for kind in ["f", "d"] {
                let name = format!("{who}{kind}");
                note(&format!("{dir}/{name}"), describe(&d.join(&name)));
            }
        }
        note(
            &format!("{dir} upper"),
            describe(&upper.join(format!("{p}{dir}"))),
        );
    }
    // USER may write what it made in `inherit` through the named entry
    // of a file root made there.
    let by_root = f("inherit").join("root_f");
    let w = as_user(USER, USER, &format!("echo x >> {}", by_root.display()));
    note("inherit/root_f writable", w.status.success().to_string());
    out
}

/// The scenario on strata with `config` changes; lower files (`l_`) and
/// upper files (`u_`).
fn strata(acl: bool) -> Vec<String> {
    let l = layers(1);
    fs::set_permissions(l.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    prepare(&l.lower(0, ""), "l_");
    let config = overlayfs::Config {
        disable_acl: !acl,
        ..l.config()
    };
    let u = l.mount_config(config);
    prepare(&u.m(""), "u_");
    let upper = u.layers.upper("");
    let mut out = scenario(&u.m(""), &upper, "l_");
    out.extend(scenario(&u.m(""), &upper, "u_"));
    u.assert_work_clean();
    out
}

fn kernel() -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let _unmount = kernel_overlay(dir.path(), |lower| prepare(lower, "l_"));
    let (mnt, upper) = (dir.path().join("mnt"), dir.path().join("upper"));
    prepare(&mnt, "u_");
    let mut out = scenario(&mnt, &upper, "l_");
    out.extend(scenario(&mnt, &upper, "u_"));
    out
}

/// A few results spelt out, so that a union (or a kernel) that enforces
/// nothing fails too.
fn assert_enforced(results: &[String]) {
    for p in ["l_", "u_"] {
        for (k, v) in [
            ("grant reads", "true"),
            ("deny reads", "false"),
            ("chmod reads before", "true"),
            ("chmod reads 600", "false"),
            ("chmod reads 660", "true"),
            ("strip reads before", "false"),
            ("strip reads after", "true"),
            ("strip remove again", "true"),
            ("sgid_out set by owner", "true"),
            ("inherit/root_f writable", "true"),
        ] {
            let line = format!("{p}{k}: {v}");
            assert!(results.contains(&line), "{line} missing in {results:#?}");
        }
        // Setting an ACL drops S_ISGID of a caller outside the group only.
        for start in [format!("{p}sgid_out: 775 "), format!("{p}sgid_in: 2775 ")] {
            let found = results.iter().any(|l| l.starts_with(&start));
            assert!(found, "{start}... missing in {results:#?}");
        }
    }
}

#[test]
fn acls_as_on_kernel_overlayfs() {
    let kernel = kernel();
    assert_enforced(&kernel);
    let strata = strata(true);
    for (k, s) in kernel.iter().zip(&strata) {
        assert_eq!(k, s, "kernel overlayfs vs strata");
    }
    assert_eq!(kernel.len(), strata.len());
}

/// `-o noacl`: ACLs stored and copied up, not enforced (mode bits only).
#[test]
fn noacl_leaves_acls_unenforced() {
    let results = strata(false);
    for p in ["l_", "u_"] {
        let line = format!("{p}deny reads: true");
        assert!(results.contains(&line), "{line} missing in {results:#?}");
        let line = format!("{p}grant reads: false");
        assert!(results.contains(&line), "{line} missing in {results:#?}");
    }
}
