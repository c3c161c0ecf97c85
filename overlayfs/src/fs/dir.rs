//! Directory listing: readdir snapshots the merged listing per handle,
//! ordered by the stable cookies of `readdir::order`, and pages through it
//! by cookie.

use std::ffi::{OsStr, OsString};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use std::os::unix::fs::MetadataExt;

use fuser::{Errno, FileAttr, FileType};

use super::{Res, UnionFs, errno};
use crate::handles::OpenDir;
use crate::layers::{Found, Layer};
use crate::readdir::{self, Entry, Listing, Merged};

/// What the kernel may do with a directory's listing (FOPEN_CACHE_DIR,
/// FOPEN_KEEP_CACHE), decided at opendir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingCache {
    /// The listing cache is off (`Config::dir_cache`): every listing asks.
    Off,
    /// Cache what this open lists; drop what was cached before.
    Fill,
    /// Keep serving the listing cached earlier.
    Keep,
}

/// A listing this long leaves enough freed memory behind to be worth
/// handing back to the system.
const BIG_LISTING: usize = 4096;

impl UnionFs {
    /// The visible entries of directory `ino`, merged over its layers.
    pub(crate) fn merged_listing(&self, ino: u64) -> Res<Vec<Merged>> {
        let (path, merged) = self.dir_of(ino)?;
        let mut listings = Vec::with_capacity(merged.len());
        for layer in merged {
            let raws = readdir::read_layer(&self.stack.path(layer, &path)).map_err(errno)?;
            listings.push((layer, raws));
        }
        Ok(readdir::merge(listings))
    }

    /// `.`, `..` and the merged entries, numbered with union inodes.
    fn snapshot(&self, ino: u64) -> Res<Vec<Entry>> {
        let _ns = self.read_ns();
        let node = self.node(ino)?;
        let path = node.path().ok_or(Errno::ENOENT)?.to_path_buf();
        let parent_ino = match path.parent() {
            Some(p) => self.table().ino_by_path(p).unwrap_or(ino),
            None => ino,
        };
        let listing = self.merged_listing(ino)?;
        let mut entries = vec![
            Entry {
                name: OsString::from("."),
                kind: FileType::Directory,
                ino,
                layer: None,
                off: readdir::DOT,
                gone: false,
            },
            Entry {
                name: OsString::from(".."),
                kind: FileType::Directory,
                ino: parent_ino,
                layer: None,
                off: readdir::DOTDOT,
                gone: false,
            },
        ];
        entries.reserve_exact(listing.len());
        let mut devs = std::collections::HashMap::new();
        for m in &listing {
            if let std::collections::hash_map::Entry::Vacant(v) = devs.entry(m.layer) {
                let meta = self.stack.root(m.layer).metadata().map_err(errno)?;
                v.insert(std::os::unix::fs::MetadataExt::dev(&meta));
            }
        }
        let mut t = self.table();
        for m in listing {
            let dev = devs.get(&m.layer).copied().unwrap_or(0);
            let child = path.join(&m.name);
            let ino = t.ino_for_entry(&child, (dev, m.backing_ino));
            entries.push(Entry {
                name: m.name,
                kind: m.kind,
                ino,
                layer: Some(m.layer),
                off: 0,
                gone: false,
            });
        }
        drop(t);
        readdir::order(&mut entries[2..], readdir::name_cookie);
        Ok(entries)
    }

    /// Opens directory `ino`: its handle, and what the kernel may do with
    /// its listing (`ListingCache`). It may keep serving the listing it
    /// cached only if that listing began less than `max_age` ago. A cached
    /// listing carries no attributes, so once the entries it brought
    /// (READDIRPLUS) expire in the kernel, a `find` or `ls -l` over it
    /// would cost one LOOKUP per entry; dropping it instead lists with
    /// attributes again.
    pub fn opendir(&self, ino: u64, max_age: Duration) -> Res<(u64, ListingCache)> {
        self.dir_of(ino)?;
        let cache = if !self.dir_cache {
            ListingCache::Off
        } else {
            let mut listed = self.listed.lock().unwrap_or_else(|p| p.into_inner());
            match listed.get(&ino) {
                Some(t) if t.elapsed() < max_age => ListingCache::Keep,
                Some(_) => {
                    listed.remove(&ino);
                    ListingCache::Fill
                }
                None => ListingCache::Fill,
            }
        };
        // The snapshot is taken by the first readdir (a listing served
        // from the kernel's cache never asks for one).
        Ok((self.dirs.insert(OpenDir::new(ino)), cache))
    }

    /// The kernel begins a listing of `ino` (and so its cached one).
    fn note_listed(&self, ino: u64) {
        /// Directories remembered at most: past that all are forgotten
        /// (each then only lists anew, with attributes, at its next open).
        const KEEP: usize = 4096;
        let mut listed = self.listed.lock().unwrap_or_else(|p| p.into_inner());
        if listed.len() >= KEEP {
            listed.clear();
        }
        listed.insert(ino, Instant::now());
    }

    /// Hands the entries after cookie `offset` to `add` (with their own
    /// cookie, the offset to continue from) until it returns true (the
    /// reply buffer is full). Offset 0 (a rewind) refreshes the snapshot,
    /// as rewinddir(3) must, and so does any offset once the directory
    /// changed (`listing_changed`): the kernel may append this reply to a
    /// cached listing it began after the change. A cookie from another
    /// handle (seekdir, or the kernel's cache filled through several
    /// opens) means the same position here. Only the entries that fit are
    /// touched: a 100k-entry listing is paged through in linear time.
    pub fn readdir(
        &self,
        fh: u64,
        offset: u64,
        mut add: impl FnMut(u64, &Entry) -> bool,
    ) -> Res<()> {
        let dir = self.dirs.get(fh).ok_or(Errno::EBADF)?;
        // Held while `add` runs: only readers of this one handle wait.
        let mut entries = dir.entries.lock().unwrap_or_else(|p| p.into_inner());
        // Cleared before the snapshot: a change made while it is taken
        // marks it stale again.
        if offset == 0 && self.dir_cache {
            self.note_listed(dir.ino);
        }
        if dir.stale.swap(false, Ordering::AcqRel) || offset == 0 {
            *entries = Listing::default();
            match self.snapshot(dir.ino) {
                Ok(fresh) => *entries = Listing::new(fresh),
                Err(e) => {
                    dir.stale.store(true, Ordering::Release);
                    return Err(e);
                }
            }
        }
        for e in entries.after(offset) {
            if add(e.off, e) {
                break;
            }
        }
        Ok(())
    }

    /// Directory `ino` changed through the mount in a way its open handles
    /// cannot follow in place (the kernel drops its cached listing
    /// itself): they read it anew.
    pub(crate) fn listing_changed(&self, ino: u64) {
        self.dirs.for_each(|d| {
            if d.ino == ino {
                d.stale.store(true, Ordering::Release);
            }
        });
    }

    /// Applies `change` to the listing of every open handle of directory
    /// `ino`; one it fails for reads the directory anew. Called holding
    /// the namespace lock exclusively, after the change: a snapshot is
    /// either taken before (and patched here) or after it. A handle busy
    /// in readdir (which holds its listing while it waits for the
    /// namespace lock) is not waited for, which could deadlock: it is
    /// marked to read the directory anew instead.
    fn patch_listings(&self, ino: u64, change: impl Fn(&mut Listing) -> bool) {
        self.dirs.for_each(|d| {
            if d.ino != ino || d.stale.load(Ordering::Acquire) {
                return;
            }
            let patched = match d.entries.try_lock() {
                Ok(mut entries) => change(&mut entries),
                Err(std::sync::TryLockError::Poisoned(p)) => change(&mut p.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => false,
            };
            if !patched {
                d.stale.store(true, Ordering::Release);
            }
        });
    }

    /// `name` was made in (or moved or linked into) directory `parent`,
    /// as inode `ino` of type `kind`.
    pub(crate) fn listing_added(&self, parent: u64, name: &OsStr, ino: u64, kind: FileType) {
        let off = readdir::name_cookie(name);
        self.patch_listings(parent, |l| {
            l.add(Entry {
                name: name.to_os_string(),
                kind,
                ino,
                layer: Some(Layer::Upper),
                off,
                gone: false,
            })
        });
    }

    /// `name` left directory `parent` (removed, or moved away).
    pub(crate) fn listing_removed(&self, parent: u64, name: &OsStr) {
        let home = readdir::name_cookie(name);
        // Not listed: the snapshot was taken after the change.
        self.patch_listings(parent, |l| {
            l.remove(name, home);
            true
        });
    }

    /// As `listing_changed`, for a change the kernel does not see as one
    /// of directory `ino` (the `..` of a directory moved to another
    /// parent): its cached listing, if the kernel keeps listings, is
    /// dropped too.
    pub(crate) fn listing_changed_behind(&self, ino: u64) {
        self.listing_changed(ino);
        if self.dir_cache {
            self.listing_invalid(ino);
        }
    }

    /// `lookup` of an entry of directory `parent`'s listing (readdirplus).
    /// The listing already resolved the name through the layers, and the
    /// lower layers never change, so a file found in a lower layer costs
    /// one stat, not one (and one of its `.wh.` marker) per layer: unless
    /// the upper layer holds something there now (a whiteout or a copy
    /// made since the listing), which the full lookup then sorts out.
    /// Names already known (anything created through the mount) come from
    /// the table as in `lookup`.
    pub fn lookup_entry(&self, parent: u64, entry: &Entry) -> Res<FileAttr> {
        let Some(layer @ Layer::Lower(_)) = entry.layer else {
            return self.lookup(parent, &entry.name);
        };
        if entry.kind == FileType::Directory {
            // Its merged layers need every layer's answer.
            return self.lookup(parent, &entry.name);
        }
        let ns = self.read_ns();
        let (dir, merged) = self.dir_of(parent)?;
        let path = dir.join(&entry.name);
        if self.table().ino_by_path(&path).is_some() {
            drop(ns);
            return self.lookup(parent, &entry.name);
        }
        if !merged.contains(&layer)
            || (merged.contains(&Layer::Upper)
                && self.stack.upper_path(&path).symlink_metadata().is_ok())
        {
            drop(ns);
            return self.lookup(parent, &entry.name);
        }
        let meta = match self.stack.path(layer, &path).symlink_metadata() {
            // A lower hard link may have a copied-up sibling to join: the
            // full lookup knows how.
            Ok(m) if m.nlink() == 1 => m,
            _ => {
                drop(ns);
                return self.lookup(parent, &entry.name);
            }
        };
        let found = Found {
            layer,
            meta: meta.clone(),
            merged: vec![layer],
        };
        let ino = self.register(&path, found);
        // Counted in the same table lock that finds it: a FORGET of the
        // name's earlier inode (dentry eviction) may remove it in between,
        // and an entry that fails here is left out of the listing.
        let node = {
            let mut t = self.table();
            t.get(ino).cloned().filter(|_| t.inc_lookup(ino))
        };
        match node {
            Some(node) => Ok(self.linked_attr(ino, &node, &meta)),
            None => {
                drop(ns);
                self.lookup(parent, &entry.name)
            }
        }
    }

    pub fn releasedir(&self, fh: u64) {
        if let Some(dir) = self.dirs.remove(fh) {
            let entries = dir.entries.lock().map(|e| e.len()).unwrap_or(0);
            if entries >= BIG_LISTING {
                self.want_trim();
            }
        }
    }

    pub fn fsyncdir(&self, ino: u64) -> Res<()> {
        let (node, path) = self.backing_path(ino)?;
        if node.layer != crate::layers::Layer::Upper {
            return Ok(());
        }
        let dir = std::fs::File::open(path).map_err(errno)?;
        dir.sync_all().map_err(errno)
    }
}
