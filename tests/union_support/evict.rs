//! Dentry and inode eviction in the background: a thread writes 2 to
//! `/proc/sys/vm/drop_caches` in a loop, so the kernel keeps dropping its
//! unused dentries and inodes and sends the union FORGETs while other
//! requests on the same inodes are in flight (served by other daemon
//! threads). It is global: every filesystem is evicted, kernel overlayfs
//! included, which changes nothing it shows.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

/// Evicts until dropped; the drop waits for the thread.
pub struct Evictor {
    stop: Arc<AtomicBool>,
    rounds: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Evictor {
    pub fn start() -> Evictor {
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicU64::new(0));
        let (s, r) = (stop.clone(), rounds.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                std::fs::write("/proc/sys/vm/drop_caches", "2\n")
                    .expect("write /proc/sys/vm/drop_caches (needs root)");
                r.fetch_add(1, Ordering::Relaxed);
            }
        });
        Evictor {
            stop,
            rounds,
            thread: Some(thread),
        }
    }

    /// How many times the caches were dropped so far (shows the load ran).
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }
}

impl Drop for Evictor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            // A panic in the thread (no root) shows in the test's output;
            // not re-raised here, a drop may run during unwinding.
            let _ = t.join();
        }
    }
}
