//! `.wh.<name>` whiteout files in the upper layer, read once per directory.
//!
//! An upper dir written by another tool may hold fuse-overlayfs-style
//! `.wh.<name>` whiteout files (fuse-overlayfs falls back to them where it
//! cannot mknod a 0/0 device). strata never makes such a name in upper:
//! its whiteouts are 0/0 devices and creating or renaming to a `.wh.` name
//! is EINVAL. So the markers of an upper directory never grow while
//! mounted; they leave only with the directory itself (rmdir, or a rename
//! moving it). A lookup missing in upper used to stat `upper/dir/.wh.NAME`
//! too: the second stat of every lookup and create of a new name. Now the
//! directory's set of marked names is listed once (an absent upper dir
//! costs one failed open) and asked from memory.
//!
//! Invariant: a set is built and read holding the namespace lock (shared
//! or exclusive) and dropped (`forget`) holding it exclusive wherever an
//! upper directory leaves its path, so no set outlives its directory.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::layers::is_absent;
use crate::markers;

/// Directories kept at most; the cache is emptied when it is full (each
/// set is read again on demand).
const MAX_DIRS: usize = 16384;

/// Union dir path -> names hidden by a `.wh.` file in its upper dir.
#[derive(Debug, Default)]
pub struct UpperMarkers {
    map: Mutex<HashMap<PathBuf, Arc<HashSet<OsString>>>>,
}

impl UpperMarkers {
    /// Whether the upper directory `abs` (union path `dir`) holds a
    /// `.wh.<name>` file.
    pub fn hides(&self, abs: &Path, dir: &Path, name: &OsStr) -> io::Result<bool> {
        if let Some(set) = self.lock().get(dir) {
            return Ok(set.contains(name));
        }
        // Read without the mutex: two threads may both read it, the same.
        let set = Arc::new(read(abs)?);
        let hidden = set.contains(name);
        let mut map = self.lock();
        if map.len() >= MAX_DIRS {
            map.clear();
        }
        map.insert(dir.to_path_buf(), set);
        Ok(hidden)
    }

    /// The upper directory at union path `dir` was just made by us (mkdir,
    /// copy-up): it holds no `.wh.` file, no need to list it.
    pub fn made_empty(&self, dir: &Path) {
        let mut map = self.lock();
        if map.len() >= MAX_DIRS {
            map.clear();
        }
        map.insert(dir.to_path_buf(), Arc::default());
    }

    /// Upper directories may have moved (a directory rename or exchange):
    /// drop every set. Caller holds the namespace lock exclusive.
    pub fn forget_all(&self) {
        let mut map = self.lock();
        if !map.is_empty() {
            map.clear();
        }
    }

    /// The upper directory at union path `dir` is gone. Caller holds the
    /// namespace lock exclusive.
    pub fn forget(&self, dir: &Path) {
        self.lock().remove(dir);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<PathBuf, Arc<HashSet<OsString>>>> {
        // Single inserts and removals: a poisoned map is still consistent.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The names hidden by `.wh.` files in directory `abs` (none if absent).
fn read(abs: &Path) -> io::Result<HashSet<OsString>> {
    let entries = match std::fs::read_dir(abs) {
        Ok(e) => e,
        Err(e) if is_absent(&e) => return Ok(HashSet::new()),
        Err(e) => return Err(e),
    };
    let mut set = HashSet::new();
    for entry in entries {
        let name = entry?.file_name();
        if let Some(target) = markers::whiteout_target(&name) {
            set.insert(target.to_os_string());
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn a_set_is_read_once_and_forgotten_on_demand() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("d");
        fs::create_dir(&d).unwrap();
        fs::write(d.join(".wh.gone"), "").unwrap();
        fs::write(d.join(".wh..wh..opq"), "").unwrap();
        fs::write(d.join("kept"), "").unwrap();
        let m = UpperMarkers::default();
        let rel = Path::new("d");
        assert!(m.hides(&d, rel, OsStr::new("gone")).unwrap());
        assert!(!m.hides(&d, rel, OsStr::new("kept")).unwrap());
        assert!(!m.hides(&d, rel, OsStr::new(".wh..opq")).unwrap());
        // Cached: a marker appearing behind our back is not seen...
        fs::write(d.join(".wh.late"), "").unwrap();
        assert!(!m.hides(&d, rel, OsStr::new("late")).unwrap());
        // ...until the directory is forgotten (it moved or went away).
        m.forget(rel);
        assert!(m.hides(&d, rel, OsStr::new("late")).unwrap());
        fs::remove_file(d.join(".wh.late")).unwrap();
        m.forget_all();
        assert!(!m.hides(&d, rel, OsStr::new("late")).unwrap());
        // A directory we made holds none (not listed again).
        m.made_empty(rel);
        fs::write(d.join(".wh.late"), "").unwrap();
        assert!(!m.hides(&d, rel, OsStr::new("gone")).unwrap());
        // An absent upper dir hides nothing.
        let none = t.path().join("none");
        assert!(!m.hides(&none, Path::new("none"), OsStr::new("x")).unwrap());
    }
}
