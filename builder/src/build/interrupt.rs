//! Cancelling a build (Ctrl-C, kill): the CLI's signal thread calls
//! [`interrupt`]; the running RUN container is killed, and the executor
//! stops before the next step, unwinding normally so that mounts, staging
//! and leases are cleaned up by their guards. Process-wide on purpose: one
//! build per process, and a signal has no other way in.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::error::{BuildError, Result};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Host pid of the running RUN container's PID 1 (0: none).
static RUNNING: AtomicI32 = AtomicI32::new(0);

/// Asks the build to stop: kills the running container (its PID 1 may
/// ignore SIGINT) and makes the executor stop before the next step.
pub fn interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
    let pid = RUNNING.load(Ordering::SeqCst);
    if pid > 0 {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

pub(crate) fn set_running(pid: i32) {
    RUNNING.store(pid, Ordering::SeqCst);
    // A signal that came while the container was starting.
    if pid > 0 && INTERRUPTED.load(Ordering::SeqCst) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// Err when the build was interrupted.
pub(crate) fn check() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err(BuildError::Interrupted)
    } else {
        Ok(())
    }
}
