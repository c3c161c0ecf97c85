//! The setup sequence against the recording fake: order, flags, paths.

use std::path::{Path, PathBuf};

use super::*;
use crate::runtime::spec::{BindMount, ProcessSpec};
use crate::runtime::syscall::{Call, FakeSyscall};

fn spec() -> ContainerSpec {
    ContainerSpec::new("/r", "/state", "box", ProcessSpec::new(["sh"]))
}

/// A host with a rootfs at /r holding the usual top-level directories and,
/// once /proc is "mounted", the proc entries Docker masks.
fn host() -> FakeSyscall {
    FakeSyscall::new()
        .with_dir("/r/etc")
        .with_dir("/r/bin")
        .with_file("/etc/hosts", "127.0.0.1 localhost\n")
        .with_file("/etc/resolv.conf", "nameserver 192.0.2.53\n")
        .with_file("/r/proc/kcore", "")
        .with_dir("/r/proc/sys")
        .with_dir("/r/proc/acpi")
        .with_dir("/data")
        .with_file("/dev/null", "")
        .with_file("/dev/zero", "")
        .with_file("/dev/full", "")
        .with_file("/dev/random", "")
        .with_file("/dev/urandom", "")
        .with_file("/dev/tty", "")
}

fn index(calls: &[Call], op: &str, target: &str) -> usize {
    calls
        .iter()
        .position(|c| c.op == op && c.target == Path::new(target))
        .unwrap_or_else(|| panic!("no {op} {target} in {calls:#?}"))
}

fn mounts_of<'a>(calls: &'a [Call], target: &str) -> Vec<&'a str> {
    calls
        .iter()
        .filter(|c| c.op == "mount" && c.target == Path::new(target))
        .map(|c| c.detail.as_str())
        .collect()
}

#[test]
fn namespaces_come_first_and_net_only_with_network_none() {
    let fake = host();
    prepare(&fake, &spec()).expect("prepare");
    let calls = fake.calls();
    assert_eq!(calls[0].op, "unshare");
    assert!(!calls[0].detail.contains("NEWNET"), "{}", calls[0].detail);
    assert_eq!(
        (calls[1].op, calls[1].detail.as_str()),
        ("sethostname", "box")
    );
    assert!(calls.iter().all(|c| c.op != "loopback_up"));

    let fake = host();
    let mut s = spec();
    s.network = NetworkMode::None;
    prepare(&fake, &s).expect("prepare");
    let calls = fake.calls();
    assert!(
        calls[0].detail.contains("CLONE_NEWNET"),
        "{}",
        calls[0].detail
    );
    assert_eq!(calls[2].op, "loopback_up");
}

#[test]
fn mounts_are_private_before_anything_is_mounted() {
    let fake = host();
    prepare(&fake, &spec()).expect("prepare");
    let calls = fake.calls();
    let first_mount = calls.iter().position(|c| c.op == "mount").expect("mounts");
    assert_eq!(calls[first_mount].target, PathBuf::from("/"));
    assert!(calls[first_mount].detail.contains("MS_PRIVATE"));
    assert!(calls[first_mount].detail.contains("MS_REC"));
    // Then the rootfs is bound onto itself so it is a mount point.
    let bind = &calls[first_mount + 1];
    assert_eq!(bind.target, PathBuf::from("/r"));
    assert!(bind.detail.starts_with("/r "), "{}", bind.detail);
    assert!(bind.detail.contains("MS_BIND"));
}

#[test]
fn proc_dev_sys_are_mounted_inside_the_rootfs_before_pivot() {
    let fake = host();
    prepare(&fake, &spec()).expect("prepare");
    let calls = fake.calls();
    let pivot = index(&calls, "pivot_root", ".");
    for target in ["/r/proc", "/r/dev", "/r/dev/pts", "/r/dev/shm", "/r/sys"] {
        assert!(
            index(&calls, "mount", target) < pivot,
            "{target} after pivot"
        );
    }
    assert!(mounts_of(&calls, "/r/proc")[0].contains(" proc "));
    assert!(mounts_of(&calls, "/r/sys")[0].contains("MS_RDONLY"));
    let pts = mounts_of(&calls, "/r/dev/pts")[0];
    assert!(
        pts.contains("newinstance") && pts.contains("ptmxmode=0666"),
        "{pts}"
    );
    // Devices are bound after the /dev tmpfs, which they would be hidden
    // by; that tmpfs and the rootfs are nodev (no device of the image or
    // made by mknod is usable), the binds carry the host's nodes.
    let dev = index(&calls, "mount", "/r/dev");
    assert!(mounts_of(&calls, "/r/dev")[0].contains("MS_NODEV"));
    assert!(index(&calls, "nodev", "/r") < dev);
    for name in ["null", "zero", "full", "random", "urandom", "tty"] {
        let target = format!("/r/dev/{name}");
        let node = index(&calls, "mount", &target);
        assert!(node > dev, "{name} bound before /dev was mounted");
        let bind = mounts_of(&calls, &target)[0];
        assert!(
            bind.starts_with(&format!("/dev/{name} ")) && bind.contains("MS_BIND"),
            "{bind}"
        );
    }
    assert_eq!(
        calls[index(&calls, "symlink", "/r/dev/ptmx")].detail,
        "pts/ptmx"
    );
    assert_eq!(
        calls[index(&calls, "symlink", "/r/dev/fd")].detail,
        "/proc/self/fd"
    );
}

#[test]
fn pivot_then_detach_old_root_then_masks() {
    let fake = host();
    prepare(&fake, &spec()).expect("prepare");
    let calls = fake.calls();
    let chdir_root = index(&calls, "chdir", "/r");
    let pivot = index(&calls, "pivot_root", ".");
    let detach = index(&calls, "umount2", ".");
    assert!(chdir_root < pivot && pivot < detach);
    assert_eq!(calls[pivot].detail, ".");
    assert!(calls[detach].detail.contains("MNT_DETACH"));
    assert!(
        calls[detach - 1].detail.contains("MS_SLAVE"),
        "old root made slave first"
    );
    assert_eq!(calls[detach + 1].op, "chdir");
    assert_eq!(calls[detach + 1].target, PathBuf::from("/"));

    // Masks use container paths, after the pivot: a file gets /dev/null,
    // a directory a read-only tmpfs; paths that do not exist are skipped.
    let kcore = index(&calls, "mount", "/proc/kcore");
    assert!(kcore > detach);
    assert!(calls[kcore].detail.starts_with("/dev/null "));
    assert!(mounts_of(&calls, "/proc/acpi")[0].contains("tmpfs"));
    assert!(mounts_of(&calls, "/proc/keys").is_empty());
    let sys = mounts_of(&calls, "/proc/sys");
    assert_eq!(sys.len(), 2, "bind, then read-only remount: {sys:?}");
    assert!(sys[1].contains("MS_REMOUNT") && sys[1].contains("MS_RDONLY"));
}

#[test]
fn etc_files_are_written_to_the_state_dir_and_bound() {
    let fake = host();
    prepare(&fake, &spec()).expect("prepare");
    assert_eq!(fake.file("/state/hostname").as_deref(), Some("box\n"));
    let hosts = fake.file("/state/hosts").expect("hosts");
    assert!(hosts.starts_with("127.0.0.1 localhost\n") && hosts.ends_with("127.0.1.1\tbox\n"));
    assert_eq!(
        fake.file("/state/resolv.conf").as_deref(),
        Some("nameserver 192.0.2.53\n")
    );
    let calls = fake.calls();
    for name in ["hostname", "hosts", "resolv.conf"] {
        let target = format!("/r/etc/{name}");
        // The rootfs lacked them: an empty mount point is created first.
        assert!(index(&calls, "create_file", &target) < index(&calls, "mount", &target));
        assert!(mounts_of(&calls, &target)[0].starts_with(&format!("/state/{name} ")));
    }

    // Without the host's network, the host's files are not copied.
    let fake = host();
    let mut s = spec();
    s.network = NetworkMode::None;
    prepare(&fake, &s).expect("prepare");
    assert!(
        fake.file("/state/hosts")
            .expect("hosts")
            .contains("ip6-localhost")
    );
    assert_eq!(fake.file("/state/resolv.conf").as_deref(), Some(""));
}

#[test]
fn bind_mounts_create_targets_and_remount_read_only() {
    let fake = host();
    let mut s = spec();
    s.mounts = vec![BindMount {
        source: "/data".into(),
        destination: "/srv/data".into(),
        readonly: true,
    }];
    prepare(&fake, &s).expect("prepare");
    let calls = fake.calls();
    assert!(index(&calls, "mkdir_all", "/r/srv/data") < index(&calls, "mount", "/r/srv/data"));
    let m = mounts_of(&calls, "/r/srv/data");
    assert_eq!(m.len(), 2);
    assert!(m[0].starts_with("/data ") && m[0].contains("MS_BIND"));
    assert!(m[1].contains("MS_REMOUNT") && m[1].contains("MS_RDONLY"));
}

#[test]
fn bad_bind_mounts_fail_with_the_path() {
    let mut s = spec();
    s.mounts = vec![BindMount {
        source: "/nope".into(),
        destination: "/x".into(),
        readonly: false,
    }];
    let err = prepare(&host(), &s).expect_err("missing source");
    assert!(err.to_string().contains("/nope"), "{err}");

    s.mounts[0] = BindMount {
        source: "/data".into(),
        destination: "relative".into(),
        readonly: false,
    };
    let err = prepare(&host(), &s).expect_err("relative destination");
    assert!(err.to_string().contains("relative"), "{err}");
}

#[test]
fn destinations_never_leave_the_rootfs() {
    // A hostile image: absolute and relative symlinks pointing out, and `..`.
    let fake = host()
        .with_dir("/r/tmp")
        .with_symlink("/r/etc/hosts", "/tmp/hosts")
        .with_symlink("/r/etc/hostname", "../../../../host-file")
        .with_symlink("/r/srv", "/../../var/lib")
        .with_symlink("/r/loop", "/loop");
    let mut s = spec();
    s.mounts = vec![
        BindMount {
            source: "/data".into(),
            destination: "/srv/../../../escape".into(),
            readonly: false,
        },
        BindMount {
            source: "/data".into(),
            destination: "/srv/x".into(),
            readonly: false,
        },
    ];
    prepare(&fake, &s).expect("prepare");
    let calls = fake.calls();
    let targets: Vec<&Path> = calls
        .iter()
        .filter(|c| c.op == "mount" && c.detail.starts_with('/') && c.detail.contains("MS_BIND"))
        .map(|c| c.target.as_path())
        .collect();
    for expected in ["/r/tmp/hosts", "/r/host-file", "/r/escape", "/r/var/lib/x"] {
        assert!(
            targets.contains(&Path::new(expected)),
            "{expected} not in {targets:?}"
        );
    }
    assert!(
        targets
            .iter()
            .all(|t| t.starts_with("/r") || t.starts_with("/proc")),
        "{targets:?}"
    );

    s.mounts = vec![BindMount {
        source: "/data".into(),
        destination: "/loop/x".into(),
        readonly: false,
    }];
    let err = prepare(&host().with_symlink("/r/loop", "/loop"), &s).expect_err("loop");
    assert!(err.to_string().contains("/loop/x"), "{err}");
}

#[test]
fn readonly_rootfs_is_remounted_after_pivot() {
    let fake = host();
    let mut s = spec();
    s.readonly_rootfs = true;
    prepare(&fake, &s).expect("prepare");
    let calls = fake.calls();
    let detach = index(&calls, "umount2", ".");
    let ro = calls
        .iter()
        .rposition(|c| c.op == "mount" && c.target == Path::new("/"))
        .expect("remount of /");
    assert!(ro > detach);
    assert!(calls[ro].detail.contains("MS_RDONLY"));
}

#[test]
fn a_missing_rootfs_fails_before_any_pivot() {
    let fake = FakeSyscall::new();
    let err = prepare(&fake, &spec()).expect_err("no rootfs");
    assert!(err.to_string().contains("/r"), "{err}");
    assert!(fake.calls().iter().all(|c| c.op != "pivot_root"));
}
