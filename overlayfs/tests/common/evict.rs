//! Eviction of the kernel's dentries and inodes from a test: the kernel
//! then sends the union FORGETs for everything it does not use, while
//! other requests run. Eviction is global (`/proc/sys/vm/drop_caches`).
#![allow(clippy::unwrap_used)]

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::Union;

/// Held by the tests that evict the kernel's caches in a loop and by
/// those that count the nodes the kernel references (the eviction is
/// global: it would drop those references under them).
pub fn caches() -> MutexGuard<'static, ()> {
    static CACHES: Mutex<()> = Mutex::new(());
    CACHES.lock().unwrap_or_else(|p| p.into_inner())
}

/// Evicts in a loop until dropped (the kernel's unused dentries and
/// inodes go, and FORGETs reach the union while other requests run).
pub struct Evictor {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    _caches: MutexGuard<'static, ()>,
}

impl Evictor {
    pub fn start() -> Evictor {
        let caches = caches();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                fs::write("/proc/sys/vm/drop_caches", "2\n").unwrap();
            }
        });
        Evictor {
            stop,
            thread: Some(thread),
            _caches: caches,
        }
    }
}

impl Drop for Evictor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Makes the kernel drop every unused dentry and inode (and so send
/// FORGET for them), until the union holds `want` inodes. Returns what it
/// holds in the end: the bound only keeps a broken build from hanging.
pub fn forget_all(u: &Union, want: usize) -> overlayfs::Stats {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        fs::write("/proc/sys/vm/drop_caches", "2\n").unwrap();
        let s = u.stats();
        if s.inodes <= want || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
