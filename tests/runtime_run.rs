//! The runtime runs real processes in real namespaces (root needed): PID 1,
//! isolation, hostname, network, env/workdir/user, exit codes, mounts,
//! capabilities. Each test builds its own busybox rootfs in a temp dir.

mod common;

use builder::runtime::{BindMount, NetworkMode, RuntimeError, StartFailureKind, Stdio};
use common::runtime::{TestContainer, sh};

#[test]
fn pid_1_is_the_command() {
    let (status, out, _) = sh("echo $$");
    assert_eq!(status.exit_code(), 0);
    assert_eq!(out, "1\n");
}

#[test]
fn host_processes_are_invisible() {
    let (status, out, _) = sh("ps -o pid,comm; ls /proc | grep -c '^[0-9]'");
    assert_eq!(status.exit_code(), 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    // Header, sh (PID 1) and ps; then the count of pid dirs: sh, ls, grep.
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[1].trim_start().starts_with("1 sh"), "{out}");
    assert!(lines[2].trim_end().ends_with("ps"), "{out}");
    assert_eq!(lines[3], "3", "{out}");
}

#[test]
fn hostname_is_set_and_etc_files_exist() {
    let mut c = TestContainer::new(&[
        "sh",
        "-c",
        "hostname; cat /etc/hostname; grep -c '^127.0.1.1.box-42$' /etc/hosts; test -f /etc/resolv.conf && echo resolv",
    ]);
    c.spec.hostname = "box-42".into();
    let (status, out, err) = c.run();
    assert_eq!(status.exit_code(), 0, "{err}");
    assert_eq!(out, "box-42\nbox-42\n1\nresolv\n");
    // The generated files live in the state dir, bind-mounted over the
    // empty mount points the rootfs got.
    assert_eq!(
        std::fs::read_to_string(c.dir.path().join("state/hostname")).expect("state"),
        "box-42\n"
    );
    assert_eq!(
        std::fs::read_to_string(c.rootfs().join("etc/hostname")).expect("mount point"),
        ""
    );
}

#[test]
fn network_none_has_only_loopback_up() {
    let mut c = TestContainer::new(&["sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/flags"]);
    c.spec.network = NetworkMode::None;
    let (status, out, err) = c.run();
    assert_eq!(status.exit_code(), 0, "{err}");
    // IFF_UP | IFF_LOOPBACK
    assert_eq!(out, "lo\n0x9\n");
}

#[test]
fn env_workdir_and_user_are_applied() {
    let mut c = TestContainer::new(&[
        "sh",
        "-c",
        "echo $FOO; pwd; id -u; id -g; id -G; echo $HOME; echo $PATH",
    ]);
    c.spec.process.env = vec!["FOO=bar baz".into()];
    c.spec.process.cwd = "/work/dir".into();
    c.spec.process.user = "app".into();
    let (status, out, err) = c.run();
    assert_eq!(status.exit_code(), 0, "{err}");
    let expected = "bar baz\n/work/dir\n1000\n1000\n1000 10\n/home/app\n\
        /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n";
    assert_eq!(out, expected);
    assert!(
        c.rootfs().join("work/dir").is_dir(),
        "workdir created like Docker"
    );
}

#[test]
fn numeric_user_and_group() {
    let mut c = TestContainer::new(&["sh", "-c", "id -u; id -g"]);
    c.spec.process.user = "4242:77".into();
    let (status, out, err) = c.run();
    assert_eq!(status.exit_code(), 0, "{err}");
    assert_eq!(out, "4242\n77\n");
}

#[test]
fn exit_code_is_the_commands() {
    assert_eq!(sh("exit 3").0.exit_code(), 3);
    assert_eq!(sh("true").0.exit_code(), 0);
}

fn start_failure(args: &[&str]) -> (i32, StartFailureKind, String) {
    let c = TestContainer::new(args);
    match TestContainer::runtime().run(&c.spec) {
        Err(RuntimeError::Start(f)) => (f.exit_code(), f.kind, f.message),
        other => panic!("expected a start failure, got {other:?}"),
    }
}

#[test]
fn missing_command_is_127() {
    let (code, kind, message) = start_failure(&["no-such-command"]);
    assert_eq!((code, kind), (127, StartFailureKind::NotFound));
    assert!(
        message.contains("executable file not found in $PATH"),
        "{message}"
    );
    let (code, _, _) = start_failure(&["/no/such/path"]);
    assert_eq!(code, 127);
}

#[test]
fn non_executable_command_is_126() {
    let (code, kind, message) = start_failure(&["/etc/passwd"]);
    assert_eq!((code, kind), (126, StartFailureKind::NotExecutable));
    assert!(message.contains("/etc/passwd"), "{message}");
}

#[test]
fn unknown_user_and_missing_rootfs_are_125() {
    let mut c = TestContainer::new(&["true"]);
    c.spec.process.user = "ghost".into();
    let err = TestContainer::runtime()
        .run(&c.spec)
        .expect_err("unknown user");
    assert_eq!(err.exit_code(), 125);
    assert!(err.to_string().contains("ghost"), "{err}");

    c.spec.process.user.clear();
    c.spec.rootfs = c.dir.path().join("missing");
    let err = TestContainer::runtime()
        .run(&c.spec)
        .expect_err("no rootfs");
    assert_eq!(err.exit_code(), 125);
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn bind_mounts_read_only_and_read_write() {
    let c = TestContainer::new(&["true"]);
    let ro = c.dir.path().join("ro");
    let rw = c.dir.path().join("rw");
    std::fs::create_dir_all(&ro).expect("ro dir");
    std::fs::create_dir_all(&rw).expect("rw dir");
    std::fs::write(ro.join("f"), "hello\n").expect("file");
    let mut c = c;
    c.spec.process.args = [
        "sh",
        "-c",
        "cat /data/f; echo x > /data/g || echo refused; echo y > /out/h",
    ]
    .map(String::from)
    .to_vec();
    c.spec.mounts = vec![
        BindMount::parse(&format!("{}:/data:ro", ro.display())).expect("ro"),
        BindMount::parse(&format!("{}:/out", rw.display())).expect("rw"),
    ];
    let (status, out, err) = c.run();
    assert_eq!(status.exit_code(), 0, "{err}");
    assert_eq!(out, "hello\nrefused\n");
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(!ro.join("g").exists());
    assert_eq!(
        std::fs::read_to_string(rw.join("h")).expect("written through"),
        "y\n"
    );
}

#[test]
fn old_root_is_unreachable() {
    let c = TestContainer::new(&["true"]);
    let marker = c.dir.path().join("host-marker");
    std::fs::write(&marker, "host").expect("marker");
    let mut c = c;
    let script = format!(
        "test -e {} && echo visible; awk '$5 == \"/\"' /proc/self/mountinfo | wc -l; ls /",
        marker.display()
    );
    c.spec.process.args = vec!["sh".into(), "-c".into(), script];
    let (status, out, err) = c.run();
    assert_eq!(status.exit_code(), 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "exactly one mount at /: {out}");
    assert!(!out.contains("visible"));
    assert_eq!(
        lines[1..].join(" "),
        "bin dev etc home linuxrc proc root sbin sys tmp usr"
    );
}

#[test]
fn proc_sys_is_read_only_and_timer_list_masked() {
    let (status, out, err) = sh(
        "echo x > /proc/sys/kernel/domainname || echo ro; wc -c < /proc/timer_list; \
         grep ' /proc/sys ' /proc/self/mountinfo | grep -c ' ro,'; \
         touch /sys/x 2>/dev/null || echo sysro",
    );
    assert_eq!(status.exit_code(), 0, "{err}");
    assert_eq!(out, "ro\n0\n1\nsysro\n");
}

#[test]
fn capabilities_and_no_new_privs_are_dockers() {
    let script = "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status";
    let (status, out, err) = sh(script);
    assert_eq!(status.exit_code(), 0, "{err}");
    let expected = "CapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\n\
        CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n\
        CapAmb:\t0000000000000000\nNoNewPrivs:\t1\n";
    assert_eq!(out, expected);

    let mut c = TestContainer::new(&["sh", "-c", script]);
    c.spec.process.user = "app".into();
    let (_, out, _) = c.run();
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
    assert!(out.contains("CapBnd:\t00000000a80425fb"), "{out}");
}

#[test]
fn stdin_is_dev_null_without_interactive() {
    let (status, out, _) = sh("cat; readlink /proc/self/fd/0");
    assert_eq!(status.exit_code(), 0);
    assert_eq!(out, "/dev/null\n");
}

#[test]
fn dev_is_minimal() {
    let (status, out, err) = sh("ls /dev | tr '\\n' ' '; echo; ls /dev/pts");
    assert_eq!(status.exit_code(), 0, "{err}");
    assert_eq!(
        out,
        "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero \nptmx\n"
    );
}

#[test]
fn interactive_stdin_and_own_stdio() {
    let c = TestContainer::new(&["sh", "-c", "read line; echo got-$line; echo oops >&2"]);
    let mut c = c;
    c.spec.process.stdin = true;
    c.spec.log_path = None;
    let (in_r, in_w) = nix::unistd::pipe().expect("stdin pipe");
    let out_path = c.dir.path().join("out");
    let out = std::fs::File::create(&out_path).expect("stdout file");
    let stdio = Stdio {
        stdin: Some(in_r),
        stdout: Some(out.try_clone().expect("dup").into()),
        stderr: Some(out.into()),
    };
    let mut running = TestContainer::runtime()
        .run_with_stdio(&c.spec, stdio)
        .expect("starts");
    nix::unistd::write(&in_w, b"hello\n").expect("type");
    drop(in_w);
    assert_eq!(running.wait().expect("wait").exit_code(), 0);
    assert_eq!(
        std::fs::read_to_string(out_path).expect("out"),
        "got-hello\noops\n"
    );
}

#[test]
fn read_only_rootfs_refuses_writes_but_tmp_mounts_work() {
    let mut c = TestContainer::new(&[
        "sh",
        "-c",
        "touch /x 2>/dev/null || echo ro; echo ok > /dev/shm/y && cat /dev/shm/y",
    ]);
    c.spec.readonly_rootfs = true;
    let (status, out, err) = c.run();
    assert_eq!(status.exit_code(), 0, "{err}");
    assert_eq!(out, "ro\nok\n");
    assert!(!c.rootfs().join("x").exists());
}

#[test]
fn without_a_pid_namespace_host_pids_show() {
    let mut c = TestContainer::new(&["sh", "-c", "echo $$"]);
    c.spec.new_pid_ns = false;
    let (status, out, _) = c.run();
    assert_eq!(status.exit_code(), 0);
    let pid: i32 = out.trim().parse().expect("pid");
    assert!(pid > 1, "{out}");
}

#[test]
fn image_symlinks_cannot_point_mounts_at_the_host() {
    let c = TestContainer::new(&["sh", "-c", "cat /etc/hostname"]);
    // A hostile image: /etc/hostname points at a host path that must not be
    // created or mounted over.
    let outside = c.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("outside dir");
    let host_target = outside.join("hostname");
    let link = c.rootfs().join("etc/hostname");
    std::os::unix::fs::symlink(&host_target, &link).expect("symlink");
    let (status, out, err) = c.run();
    assert_eq!(status.exit_code(), 0, "{err}");
    assert_eq!(out, "testbox\n");
    assert!(!host_target.exists(), "a file was created on the host");
    let inside = c
        .rootfs()
        .join(host_target.strip_prefix("/").expect("absolute"));
    assert!(
        inside.exists(),
        "the mount point is created inside the rootfs"
    );
}

#[test]
fn no_descriptor_leaks_into_the_container() {
    // The test harness and cargo hold more descriptors than 0-2 (a
    // jobserver pipe, for one); only stdio may reach the container.
    let leak = std::fs::File::open("/etc/hostname").expect("an fd without CLOEXEC");
    let raw = std::os::fd::AsRawFd::as_raw_fd(&leak);
    nix::fcntl::fcntl(
        &leak,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .expect("clear CLOEXEC");
    // ls as PID 1 (no shell: sh keeps descriptors of its own); fd 3 is the
    // directory ls itself opens.
    let (status, out, err) = TestContainer::new(&["ls", "/proc/self/fd"]).run();
    assert_eq!(status.exit_code(), 0, "{err}");
    assert_eq!(out, "0\n1\n2\n3\n", "fd {raw} or others leaked");
}
