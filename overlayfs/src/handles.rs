//! Open file and directory handles, shared between the session threads.
//!
//! Every open of a regular file keeps its own backing `File`, which is what
//! FUSE passthrough will register later. A read-only open of a lower file
//! switches to the upper copy once the file is copied up (see
//! `UnionFs::backing`), as kernel overlayfs does since Linux 4.19.

use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::readdir::Listing;

#[derive(Debug)]
pub struct OpenFile {
    pub ino: u64,
    file: RwLock<Arc<File>>,
    /// The backing file is in the upper layer (it never switches back).
    upper: AtomicBool,
}

impl OpenFile {
    pub fn new(ino: u64, file: File, upper: bool) -> Self {
        OpenFile {
            ino,
            file: RwLock::new(Arc::new(file)),
            upper: AtomicBool::new(upper),
        }
    }

    /// The current backing file.
    pub fn current(&self) -> Arc<File> {
        self.file.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn is_upper(&self) -> bool {
        self.upper.load(Ordering::Acquire)
    }

    /// Replaces a lower backing file by the upper copy.
    pub fn switch_to_upper(&self, file: File) {
        *self.file.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(file);
        self.upper.store(true, Ordering::Release);
    }
}

#[derive(Debug)]
pub struct OpenDir {
    pub ino: u64,
    /// Snapshot of the merged listing, ordered by cookie (`readdir::order`),
    /// taken by the first readdir and refreshed on rewind (offset 0), kept
    /// up to date with the changes made through the mount since (or taken
    /// anew when that cannot be done in place: `stale`). Cookies are
    /// positions in the directory, not indexes into a snapshot, so a
    /// refresh never moves a reader.
    pub entries: Mutex<Listing>,
    /// The snapshot is missing or older than a change of the directory.
    pub stale: AtomicBool,
}

impl OpenDir {
    pub fn new(ino: u64) -> Self {
        OpenDir {
            ino,
            entries: Mutex::new(Listing::default()),
            stale: AtomicBool::new(true),
        }
    }
}

#[derive(Debug)]
pub struct Handles<T> {
    map: Mutex<HashMap<u64, Arc<T>>>,
    next: AtomicU64,
}

impl<T> Default for Handles<T> {
    fn default() -> Self {
        Handles {
            map: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
        }
    }
}

impl<T> Handles<T> {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<T>>> {
        // A panic while holding this lock cannot leave the map half-updated
        // (single insert/remove calls), so a poisoned lock is still usable.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls `f` on every open handle.
    pub fn for_each(&self, mut f: impl FnMut(&T)) {
        for v in self.lock().values() {
            f(v);
        }
    }

    pub fn insert(&self, value: T) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(fh, Arc::new(value));
        fh
    }

    pub fn get(&self, fh: u64) -> Option<Arc<T>> {
        self.lock().get(&fh).cloned()
    }

    pub fn remove(&self, fh: u64) -> Option<Arc<T>> {
        self.lock().remove(&fh)
    }

    pub fn count(&self) -> usize {
        self.lock().len()
    }

    pub fn find(&self, pred: impl Fn(&T) -> bool) -> Option<Arc<T>> {
        self.lock().values().find(|v| pred(v)).cloned()
    }
}
