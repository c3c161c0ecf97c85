//! FUSE passthrough bookkeeping: which backing file the kernel uses for
//! each inode's data.
//!
//! With passthrough, `open` registers the backing file with the kernel
//! (`FUSE_DEV_IOC_BACKING_OPEN`) and read, write and mmap then go straight
//! to it, never through this process. The kernel allows one backing file
//! per FUSE inode at a time, and forbids mixing passthrough and cached
//! opens of one inode (EIO at open), so this table holds, per inode with
//! open files, the mode its opens use and (for passthrough) the one
//! registered backing file; every open of the inode reuses it until the
//! last one is released.
//!
//! Only upper files are registered. A lower file's backing file could not
//! be swapped for the copy when the file is copied up while open, so a
//! reader would keep reading the old data (or the copy-up would have to be
//! refused); lower files are served through this process instead (with
//! the page cache kept), where an open follows its file up as with kernel
//! overlayfs. A read-only union (no upper layer) registers lower files too:
//! nothing there can be copied up. An inode opened that way stays in that mode until all its
//! opens are closed, also for opens of its copy.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use fuser::BackingId;

#[derive(Debug)]
enum Mode {
    /// Data goes through the kernel to `id`.
    Backed { id: BackingId },
    /// Data goes through this process (read/write requests), page cache kept.
    Cached,
}

#[derive(Debug)]
struct Inode {
    mode: Mode,
    /// Open handles of the inode (released ones are not counted).
    users: usize,
}

/// How one open is to be answered.
pub enum Reply<'a> {
    Passthrough(&'a BackingId),
    Cached,
}

#[derive(Debug, Default)]
pub struct Table {
    inodes: HashMap<u64, Inode>,
    /// fh -> ino of every open counted in `inodes`.
    handles: HashMap<u64, u64>,
}

#[derive(Debug)]
pub struct Passthrough {
    /// Asked for by the configuration and granted by the kernel at init.
    enabled: AtomicBool,
    /// A backing registration failed once (logged once).
    warned: AtomicBool,
    table: Mutex<Table>,
}

impl Passthrough {
    pub fn new() -> Self {
        Passthrough {
            enabled: AtomicBool::new(false),
            warned: AtomicBool::new(false),
            table: Mutex::new(Table::default()),
        }
    }

    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Release);
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// The table, locked. Opens hold it from their conflict check until
    /// the reply is decided, so two opens of one inode agree on its mode.
    pub fn lock(&self) -> MutexGuard<'_, Table> {
        // Every update is a few map operations that leave it consistent.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Logs the first failure to register a backing file (later ones are
    /// the same story: no CAP_SYS_ADMIN, or layers on a stacked fs).
    pub fn warn_once(&self, err: &std::io::Error) {
        if !self.warned.swap(true, Ordering::AcqRel) {
            log::warn!("FUSE passthrough refused ({err}): file data goes through strata-overlayfs");
        }
    }
}

impl Table {
    /// Records open `fh` of `ino`. `register` is called only when the
    /// inode has no open handles yet; it returns the backing id or the
    /// reason passthrough is not possible (the inode then uses cached I/O
    /// until all its handles are closed).
    pub fn open(
        &mut self,
        ino: u64,
        fh: u64,
        register: impl FnOnce() -> Option<BackingId>,
    ) -> Reply<'_> {
        self.handles.insert(fh, ino);
        let inode = match self.inodes.entry(ino) {
            Entry::Occupied(e) => {
                let inode = e.into_mut();
                inode.users += 1;
                inode
            }
            Entry::Vacant(v) => {
                let mode = match register() {
                    Some(id) => Mode::Backed { id },
                    None => Mode::Cached,
                };
                v.insert(Inode { mode, users: 1 })
            }
        };
        match &inode.mode {
            Mode::Backed { id, .. } => Reply::Passthrough(id),
            Mode::Cached => Reply::Cached,
        }
    }

    /// Forgets handle `fh`; the inode's backing file is unregistered with
    /// its last handle (the kernel has already dropped its own reference:
    /// RELEASE is sent after the file is closed).
    pub fn release(&mut self, fh: u64) {
        let Some(ino) = self.handles.remove(&fh) else {
            return;
        };
        if let Entry::Occupied(mut e) = self.inodes.entry(ino) {
            e.get_mut().users -= 1;
            if e.get().users == 0 {
                e.remove();
            }
        }
    }

    #[cfg(test)]
    fn open_inodes(&self) -> usize {
        self.inodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mode_per_inode_until_the_last_release() {
        let mut t = Table::default();
        // No backing possible: cached, and later opens stay cached even
        // if registration would now work (the kernel forbids mixing).
        assert!(matches!(t.open(5, 1, || None), Reply::Cached));
        assert!(matches!(
            t.open(5, 2, || panic!("registered twice")),
            Reply::Cached
        ));
        t.release(1);
        assert_eq!(t.open_inodes(), 1);
        t.release(2);
        assert_eq!(t.open_inodes(), 0);
        t.release(2);
        assert_eq!(t.open_inodes(), 0);
    }
}
