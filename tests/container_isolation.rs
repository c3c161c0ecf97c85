//! Attacks from inside a container (root, Docker's capabilities): mounting,
//! device nodes, writes into the image's layers through /proc tricks, and
//! overwriting the strata binary through /proc/<pid>/exe (CVE-2019-5736).
//! What runtime_run.rs already proves (host PIDs invisible, old root
//! detached, /proc/sys and /sys read-only, capabilities and no_new_privs)
//! is not repeated here. Needs root and FUSE.
#![allow(clippy::unwrap_used)]

mod common;
mod container_support;

use builder::runtime::{BindMount, ProcessSpec};
use common::runtime::{TestContainer, sh};
use container_support::Fixture;

#[test]
fn mounting_and_unsharing_are_denied() {
    let (status, out, err) = sh("mkdir -p /mnt; \
         mount -t tmpfs none /mnt 2>/dev/null || echo mount-denied; \
         umount /proc/sys 2>/dev/null || echo umount-denied; \
         mount -o remount,rw /proc/sys 2>/dev/null || echo remount-denied; \
         unshare -m true 2>/dev/null || echo unshare-denied; \
         (echo b > /proc/sysrq-trigger) 2>/dev/null || echo sysrq-denied; \
         grep -q ' /mnt ' /proc/self/mountinfo || echo not-mounted");
    assert_eq!(status.exit_code(), 0, "{err}");
    assert_eq!(
        out,
        "mount-denied\numount-denied\nremount-denied\nunshare-denied\nsysrq-denied\nnot-mounted\n"
    );
}

/// CAP_MKNOD is in Docker's set, and strata has no device cgroup: the
/// rootfs, /dev and bind mounts are nodev, so a node the container makes
/// (here the host's /dev/null numbers) cannot be opened, while the /dev
/// entries Docker allows still work.
#[test]
fn device_nodes_made_in_a_container_are_unusable() {
    let mut c = TestContainer::new(&["true"]);
    let vol = c.dir.path().join("vol");
    std::fs::create_dir(&vol).unwrap();
    c.spec.mounts = vec![BindMount::parse(&format!("{}:/vol", vol.display())).unwrap()];
    c.spec.process.args = ["sh", "-c"]
        .into_iter()
        .map(String::from)
        .chain([String::from(
            "for d in /tmp /dev /vol; do \
               mknod $d/n c 1 3 && (echo x > $d/n) 2>&1 | grep -o 'Permission denied'; \
             done; \
             echo x > /dev/null && head -c 4 /dev/zero | od -An -tx1 | tr -d ' '",
        )])
        .collect();
    let (status, out, err) = c.run();
    assert_eq!(status.exit_code(), 0, "{err}");
    assert_eq!(
        out,
        "Permission denied\nPermission denied\nPermission denied\n00000000\n"
    );
    // mknod itself is allowed, as under Docker: the node is in the host dir.
    assert!(vol.join("n").exists());
}

/// The container's own root writes, through every path to an image file
/// (the mount, /proc/self/root, a reopened read-only descriptor, a hard
/// link, metadata changes, rename, unlink): each lands in the container's
/// upper dir, the layer in the store keeps its digest (`system check`
/// re-tars it) and a new container sees the image unchanged.
#[test]
fn writes_through_proc_tricks_never_reach_the_image_layers() {
    let f = Fixture::new();
    let attack = "exec 3< /etc/passwd; echo pwned >> /proc/self/fd/3; \
        echo pwned > /proc/self/root/etc/group; \
        exec 4< /bin/busybox; (printf x >> /proc/1/fd/4) 2>/dev/null; \
        ln /etc/group /hl && echo pwned >> /hl; \
        chmod 777 /etc; chown 1:1 /etc/passwd; touch -d 2001-01-01 /bin/busybox; \
        truncate -s 0 /proc/self/root/etc/passwd.x 2>/dev/null; \
        mv /bin/ls /bin/ls2; rm /bin/cat; \
        busybox cat /etc/passwd /etc/group; busybox stat -c %a /etc";
    let (code, out, err) = f.container_run(&["--rm", "busybox", "sh", "-c", attack]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out, "root:x:0:0:root:/root:/bin/sh\npwned\npwned\npwned\n777\n",
        "the writes are visible inside"
    );
    let check = f.ok(&["system", "check"]);
    assert!(
        check.contains("1 layers and 1 images verified, 0 problems"),
        "{check}"
    );
    let (code, out, err) = f.container_run(&[
        "--rm",
        "busybox",
        "sh",
        "-c",
        "cat /etc/passwd /etc/group; stat -c %a /etc; ls /bin/ls /bin/cat",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "root:x:0:0:root:/root:/bin/sh\nroot:x:0:\n755\n/bin/cat\n/bin/ls\n"
    );
    assert!(f.mounts().is_empty(), "{:?}", f.mounts());
}

/// CVE-2019-5736: while `container exec` sets up, the re-exec'd
/// `strata __init` child sits in the container's PID namespace running the
/// strata binary. Here the container holds it there (its /etc/passwd is a
/// FIFO the child reads before exec) and tries, as root, to reach the
/// binary through /proc/<pid>/exe. The init is non-dumpable until it execs
/// the command, so /proc/<pid>/exe is refused; and it runs from a detached
/// read-only mount of the binary, so even a handle to it could not write
/// (checked from the host on the run's init). The host binary is untouched.
/// (The `#!/proc/self/exe` route of the original exploit fails with ENOENT
/// on current kernels once the process's root is the container's.)
#[test]
fn the_strata_binary_cannot_be_reached_through_proc_exe() {
    let binary = common::bin("strata");
    let before = std::fs::read(&binary).unwrap();
    let attacker = "rm /etc/passwd && mkfifo /etc/passwd && touch /armed; \
        while :; do \
          for c in /proc/[0-9]*/cmdline; do \
            grep -q '__[i]nit' $c 2>/dev/null && d=${c%/cmdline} && break 2; \
          done; usleep 10000; \
        done; \
        (readlink $d/exe || echo no-readlink; printf '' > $d/exe || echo no-write; \
         head -c 4 $d/exe || echo no-read) > /result.tmp 2>&1; \
        mv /result.tmp /result; \
        echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd; \
        sleep 1000";
    let c = TestContainer::new(&["sh", "-c", attacker]);
    let rt = TestContainer::runtime();
    let mut container = Running(rt.run(&c.spec).unwrap());
    let container = &mut container.0;

    // Seen from the host, the run's init executes a read-only mount.
    let exe = format!("/proc/{}/exe", parent_of(container.pid()));
    let st = nix::sys::statvfs::statvfs(exe.as_str()).unwrap();
    assert!(
        st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
        "the init's {exe} is on a writable mount"
    );

    wait_for(&c.rootfs().join("armed"));
    let mut exec = rt
        .exec(container.pid(), &ProcessSpec::new(["true"]))
        .unwrap();
    assert_eq!(exec.wait().unwrap().exit_code(), 0);
    let result = std::fs::read_to_string(c.rootfs().join("result")).unwrap();
    assert!(
        result.contains("no-readlink") && result.contains("no-write"),
        "the container reached the init's exe: {result}"
    );
    assert!(result.contains("Permission denied"), "{result}");
    assert!(!result.contains("ELF"), "{result}");

    assert!(std::fs::read(&binary).unwrap() == before, "binary changed");
}

/// Kills the container when the test ends, passed or failed.
struct Running(builder::runtime::Container);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.stop(std::time::Duration::ZERO);
    }
}

/// Waits (without a deadline of its own: the test harness has one) for a
/// file the container creates.
fn wait_for(path: &std::path::Path) {
    while !path.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The parent pid of `pid`, from /proc/<pid>/stat (after the `(comm)`).
fn parent_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split(' ').nth(1).unwrap().parse().unwrap()
}

/// A container's symlinks to the host's `/`, to `../../..` and to a host
/// dir survive `container commit` as symlinks: committing never follows
/// them, and a container of the new image writing through them writes
/// inside its own tree.
#[test]
fn commit_keeps_outward_symlinks_as_links() {
    let f = Fixture::new();
    let canary = f.work.path().join("canary");
    std::fs::create_dir(&canary).unwrap();
    std::fs::write(canary.join("victim"), "original").unwrap();
    let make = format!(
        "ln -s / /hostroot && ln -s ../../.. /up && ln -s {} /c",
        canary.display()
    );
    f.ok(&[
        "container",
        "create",
        "--name",
        "linker",
        "busybox",
        "sh",
        "-c",
        &make,
    ]);
    f.ok(&["container", "start", "-a", "linker"]);
    f.ok(&["container", "commit", "linker", "linked"]);
    // /c names a host path, which does not exist in the container.
    let write = "(echo pwned > /c/victim) 2>/dev/null || echo contained; \
                 echo pwned > /hostroot/marker; echo pwned > /up/marker2; \
                 [ /hostroot -ef / ] && echo root; readlink /hostroot; readlink /up; cat /marker /marker2";
    let (code, out, err) = f.container_run(&["--rm", "linked", "sh", "-c", write]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "contained\nroot\n/\n../../..\npwned\npwned\n");
    assert_eq!(
        std::fs::read_to_string(canary.join("victim")).unwrap(),
        "original"
    );
    assert!(!std::path::Path::new("/marker").exists());
    assert!(!std::path::Path::new("/marker2").exists());
    f.ok(&["container", "rm", "linker"]);
    assert!(f.mounts().is_empty(), "{:?}", f.mounts());
}
