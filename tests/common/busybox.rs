//! A busybox root filesystem for tests (Debian `busybox-static`): the static
//! binary, one symlink per applet at its usual path, and `/etc/passwd` and
//! `/etc/group` with root, `nobody` and an unprivileged `app` user.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where `busybox-static` installs the binary (scripts/setup installs it).
pub const BUSYBOX: &str = "/bin/busybox";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
app:x:1000:1000:app:/home/app:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";

const GROUP: &str = "root:x:0:\ntty:x:5:\nwheel:x:10:app\napp:x:1000:\nnogroup:x:65534:\n";

/// Builds a busybox rootfs in `dir` (created if missing) and returns it.
/// Panics with a clear message when busybox-static is not installed.
pub fn busybox_rootfs(dir: &Path) -> PathBuf {
    let out = Command::new(BUSYBOX)
        .arg("--list-full")
        .output()
        .unwrap_or_else(|e| panic!("{BUSYBOX}: {e} (apt-get install busybox-static)"));
    assert!(out.status.success(), "{BUSYBOX} --list-full failed");
    let applets = String::from_utf8(out.stdout).expect("applet list is UTF-8");

    for d in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "home/app", "tmp", "proc", "sys",
        "dev",
    ] {
        std::fs::create_dir_all(dir.join(d)).expect("create rootfs dir");
    }
    std::fs::copy(BUSYBOX, dir.join("bin/busybox")).expect("copy busybox");
    for applet in applets.lines().filter(|l| !l.is_empty()) {
        let link = dir.join(applet);
        if link.exists() || applet == "bin/busybox" {
            continue;
        }
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent).expect("applet dir");
        }
        std::os::unix::fs::symlink("/bin/busybox", &link).expect("applet symlink");
    }
    std::fs::write(dir.join("etc/passwd"), PASSWD).expect("write passwd");
    std::fs::write(dir.join("etc/group"), GROUP).expect("write group");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("tmp"), std::fs::Permissions::from_mode(0o1777))
        .expect("chmod /tmp");
    dir.to_path_buf()
}
