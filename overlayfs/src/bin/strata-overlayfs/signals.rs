//! SIGTERM, SIGINT and SIGHUP detach the mount and let the server finish,
//! instead of killing it with the mount still in place (which leaves a
//! dead mount: "Transport endpoint is not connected"). The signals are
//! blocked in this thread before any session thread exists, so every
//! thread inherits the mask, and one thread waits for them.

use std::path::PathBuf;

use nix::mount::{MntFlags, umount2};
use nix::sys::signal::{SigSet, Signal};

pub fn detach_on_signal(mountpoint: PathBuf) -> std::io::Result<()> {
    let mut set = SigSet::empty();
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        set.add(sig);
    }
    set.thread_block().map_err(std::io::Error::from)?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if set.wait().is_ok() {
                // Lazy: open files keep working; the session ends with the last one.
                let _ = umount2(&mountpoint, MntFlags::MNT_DETACH);
            }
        })?;
    Ok(())
}
