//! Open file and directory handles, shared between the session threads.
//!
//! Every open of a regular file keeps its own backing `File` (in the layer
//! that held the file when it was opened), which is what FUSE passthrough
//! will register later. A read-only open of a lower file keeps reading the
//! lower file even if another open copies it up, as with kernel overlayfs.

use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::readdir::Entry;

#[derive(Debug)]
pub struct OpenFile {
    pub ino: u64,
    pub file: File,
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

    pub fn find(&self, pred: impl Fn(&T) -> bool) -> Option<Arc<T>> {
        self.lock().values().find(|v| pred(v)).cloned()
    }
}
