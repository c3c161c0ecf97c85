//! Controlling running containers (root needed): signals, stop with
//! timeout, exec into a running container, pause and resume.

mod common;

use std::time::Duration;

use builder::runtime::{ProcessSpec, RuntimeError, container_processes, control, pause, resume};
use common::runtime::TestContainer;
use nix::sys::signal::Signal;

/// Waits (no deadline: the harness's hang detection applies) until `cond`.
fn eventually(mut cond: impl FnMut() -> bool) {
    while !cond() {
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn killed_by_signal_is_128_plus_n() {
    let c = TestContainer::new(&["sleep", "1000"]);
    let mut running = c.start();
    assert!(!running.has_exited());
    running.signal(Signal::SIGKILL).expect("kill");
    let status = running.wait().expect("wait");
    assert_eq!(status.signal, Some(9));
    assert_eq!(status.exit_code(), 137);
    assert!(running.has_exited());
}

#[test]
fn stop_kills_a_process_that_ignores_the_stop_signal() {
    // PID 1 without a SIGTERM handler never sees SIGTERM: stop must SIGKILL.
    let c = TestContainer::new(&["sleep", "1000"]);
    let mut running = c.start();
    let status = running.stop(Duration::from_millis(300)).expect("stop");
    assert_eq!(status.exit_code(), 137);
}

#[test]
fn stop_lets_a_handler_exit_cleanly() {
    let script = "trap 'echo bye; exit 7' TERM; echo ready; while :; do sleep 1; done";
    let c = TestContainer::new(&["sh", "-c", script]);
    let mut running = c.start();
    eventually(|| c.output().0.contains("ready"));
    let status = running.stop(Duration::from_secs(120)).expect("stop");
    assert_eq!(status.exit_code(), 7);
    assert_eq!(c.output().0, "ready\nbye\n");
}

#[test]
fn stop_signal_from_the_spec_is_used() {
    let script = "trap 'exit 9' USR1; echo ready; while :; do sleep 1; done";
    let mut c = TestContainer::new(&["sh", "-c", script]);
    c.spec.process.stop_signal = "SIGUSR1".into();
    let mut running = c.start();
    eventually(|| c.output().0.contains("ready"));
    assert_eq!(
        running
            .stop(Duration::from_secs(120))
            .expect("stop")
            .exit_code(),
        9
    );
}

#[test]
fn stop_process_by_pid_reports_how_it_ended() {
    let c = TestContainer::new(&["sleep", "1000"]);
    let mut running = c.start();
    let how = control::stop_process(running.pid(), Signal::SIGTERM, Duration::from_millis(200))
        .expect("stop by pid");
    assert_eq!(how, control::Stopped::Killed);
    assert_eq!(running.wait().expect("wait").exit_code(), 137);
    let again = control::stop_process(running.pid(), Signal::SIGTERM, Duration::ZERO);
    assert_eq!(again.expect("gone"), control::Stopped::AlreadyGone);
}

#[test]
fn exec_joins_the_running_containers_namespaces() {
    let mut c = TestContainer::new(&["sleep", "1000"]);
    c.spec.hostname = "execbox".into();
    let mut running = c.start();
    let script = "hostname > /tmp/o; tr '\\0' ' ' < /proc/1/cmdline >> /tmp/o; echo >> /tmp/o; \
                  echo $$ >> /tmp/o; id -u >> /tmp/o; pwd >> /tmp/o";
    let mut process = ProcessSpec::new(["sh", "-c", script]);
    process.user = "app".into();
    process.cwd = "/home/app".into();
    let mut exec = TestContainer::runtime()
        .exec(running.pid(), &process)
        .expect("exec starts");
    assert_eq!(exec.wait().expect("exec waits").exit_code(), 0);
    let out = std::fs::read_to_string(c.rootfs().join("tmp/o")).expect("exec output");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "execbox");
    assert_eq!(lines[1], "sleep 1000 ");
    let pid: i32 = lines[2].parse().expect("pid");
    assert!(pid > 1, "exec'd process is not PID 1: {pid}");
    assert_eq!(&lines[3..], ["1000", "/home/app"]);

    let err = TestContainer::runtime()
        .exec(running.pid(), &ProcessSpec::new(["no-such-thing"]))
        .expect_err("missing command");
    assert_eq!(err.exit_code(), 127);
    assert_eq!(running.stop(Duration::ZERO).expect("stop").exit_code(), 137);

    // The container is gone: exec fails as a runtime error.
    let err = TestContainer::runtime()
        .exec(running.pid(), &ProcessSpec::new(["true"]))
        .expect_err("no container");
    assert!(matches!(err, RuntimeError::Start(_)), "{err:?}");
    assert_eq!(err.exit_code(), 125);
}

#[test]
fn pause_stops_every_process_and_resume_continues_them() {
    let c = TestContainer::new(&["sh", "-c", "sleep 1000 & sleep 1000 & wait"]);
    let mut running = c.start();
    let pid = running.pid();
    eventually(|| container_processes(pid).expect("list").len() == 3);
    pause(pid).expect("pause");
    let procs = container_processes(pid).expect("list");
    for p in &procs {
        eventually(|| control::process_state(*p) == Some('T'));
    }
    resume(pid).expect("resume");
    for p in &procs {
        eventually(|| control::process_state(*p) == Some('S'));
    }
    running.signal(Signal::SIGKILL).expect("kill");
    assert_eq!(running.wait().expect("wait").exit_code(), 137);
    // PID 1 gone: the kernel killed the rest of its namespace.
    for p in procs {
        eventually(|| control::process_state(p).is_none());
    }
}
