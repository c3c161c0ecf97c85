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

use crate::readdir::Entry;

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
    /// Snapshot of the merged listing taken at opendir and refreshed on
    /// rewind (offset 0); offsets are indexes into it, so telldir/seekdir
    /// stay valid whatever happens to the directory meanwhile.
    pub entries: Mutex<Vec<Entry>>,
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
