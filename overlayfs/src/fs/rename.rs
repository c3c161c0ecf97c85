//! rename(2) and renameat2(2) (RENAME_NOREPLACE, RENAME_EXCHANGE).
//!
//! Without `redirect_dir`, an object is found at the same path in every
//! layer, so a directory that has lower parts cannot simply be renamed in
//! upper. Instead of EXDEV (what the kernel returns), its whole visible
//! tree is copied up first; it then no longer depends on its lower layers
//! and is renamed in upper like any upper-only object. The source name gets
//! a whiteout if a lower layer still shows it (RENAME_WHITEOUT, atomic with
//! the rename), and a directory landing where a lower layer has something
//! is made opaque before the rename.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use fuser::Errno;
use nix::fcntl::RenameFlags;

use super::namespace::check_new_name;
use super::{Res, UnionFs, errno};
use crate::copyup::{self, remove_any, rename2};
use crate::layers::Layer;
use crate::markers;

impl UnionFs {
    pub fn rename(
        &self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
    ) -> Res<()> {
        check_new_name(newname)?;
        let exchange = flags & libc::RENAME_EXCHANGE != 0;
        let noreplace = flags & libc::RENAME_NOREPLACE != 0;
        if flags & !(libc::RENAME_EXCHANGE | libc::RENAME_NOREPLACE) != 0 || (exchange && noreplace)
        {
            return Err(Errno::EINVAL);
        }
        let _ns = self.write_ns()?;
        let src = self.child(parent, name)?.ok_or(Errno::ENOENT)?;
        let dst = self.child(newparent, newname)?;
        self.rename_locked(
            src,
            dst,
            (parent, name),
            (newparent, newname),
            exchange,
            noreplace,
        )?;
        // The kernel drops the cached listings of both parents itself; not
        // that of a moved directory, whose `..` changes.
        if exchange {
            self.listing_changed(parent);
            self.listing_changed(newparent);
        } else {
            self.listing_removed(parent, name);
            match self.node(src) {
                Ok(n) => self.listing_added(newparent, newname, src, n.kind),
                Err(_) => self.listing_changed(newparent),
            }
        }
        if parent != newparent {
            for ino in std::iter::once(src).chain(dst.filter(|_| exchange)) {
                if self.node(ino).is_ok_and(|n| n.is_dir()) {
                    self.listing_changed_behind(ino);
                }
            }
        }
        Ok(())
    }

    fn rename_locked(
        &self,
        src: u64,
        dst: Option<u64>,
        (parent, name): (u64, &OsStr),
        (newparent, newname): (u64, &OsStr),
        exchange: bool,
        noreplace: bool,
    ) -> Res<bool> {
        let (sdir, smerged) = self.dir_of(parent)?;
        let (ddir, dmerged) = self.dir_of(newparent)?;
        let (spath, dpath) = (sdir.join(name), ddir.join(newname));
        if spath == dpath {
            return Ok(false);
        }
        let snode = self.node(src)?;
        if exchange {
            let dst = dst.ok_or(Errno::ENOENT)?;
            return self
                .exchange(
                    src,
                    dst,
                    (&sdir, &smerged, name),
                    (&ddir, &dmerged, newname),
                )
                .map(|()| true);
        }
        if let Some(d) = dst {
            if noreplace {
                return Err(Errno::EEXIST);
            }
            if d == src {
                // Two names of one inode: rename(2) does nothing.
                return Ok(false);
            }
            let dnode = self.node(d)?;
            match (snode.is_dir(), dnode.is_dir()) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) if !self.merged_listing(d)?.is_empty() => {
                    return Err(Errno::ENOTEMPTY);
                }
                _ => {}
            }
            if self.needs_index(d)? {
                // Replacing a name of a lower hard link: as for unlink.
                self.copy_up(d)?;
            }
        }
        let dst_unknown = match dst {
            Some(d) => self.unknown_names_remain(&self.node(d)?),
            None => false,
        };
        self.copy_up_tree(src)?;
        self.ensure_upper_dir(&ddir)?;
        let supper = self.stack.upper_path(&spath);
        let dupper = self.stack.upper_path(&dpath);
        if snode.is_dir()
            && self
                .stack
                .lower_has(&dmerged, &ddir, newname)
                .map_err(errno)?
        {
            copyup::set_opaque(&supper).map_err(errno)?;
        }
        let dmeta = dupper.symlink_metadata().ok();
        let over_whiteout = dmeta.as_ref().is_some_and(markers::is_whiteout);
        if dmeta.as_ref().is_some_and(|m| m.is_dir()) {
            // The replaced directory is empty in the union, but its upper
            // part may hold whiteouts: move it out whole.
            let tmp = self.tmp_path()?;
            rename2(&dupper, &tmp, RenameFlags::RENAME_NOREPLACE).map_err(errno)?;
            remove_any(&tmp);
        }
        let whiteout_src = self.stack.lower_has(&smerged, &sdir, name).map_err(errno)?;
        if over_whiteout && snode.is_dir() {
            // A directory cannot replace a non-directory: swap with the
            // whiteout, which then sits at the source name.
            rename2(&supper, &dupper, RenameFlags::RENAME_EXCHANGE).map_err(errno)?;
            if !whiteout_src {
                std::fs::remove_file(&supper).map_err(errno)?;
            }
        } else if whiteout_src {
            self.rename_whiteout(&supper, &dupper)?;
        } else {
            rename2(&supper, &dupper, RenameFlags::empty()).map_err(errno)?;
        }
        let mut t = self.table();
        if let Some(d) = dst {
            t.remove_name(d, &dpath, dst_unknown);
        }
        t.rename_prefix(&spath, &dpath);
        drop(t);
        if let Some(d) = dst {
            self.release_index_if_unused(d);
        }
        self.flatten_moved(&dpath);
        Ok(true)
    }

    /// rename leaving a whiteout at the source, atomically where the upper
    /// filesystem supports RENAME_WHITEOUT.
    fn rename_whiteout(&self, from: &Path, to: &Path) -> Res<()> {
        match rename2(from, to, RenameFlags::RENAME_WHITEOUT) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                rename2(from, to, RenameFlags::empty()).map_err(errno)?;
                self.make_whiteout(from).map_err(errno)
            }
            Err(e) => Err(errno(e)),
        }
    }

    fn exchange(
        &self,
        a: u64,
        b: u64,
        (adir, amerged, aname): (&Path, &[Layer], &OsStr),
        (bdir, bmerged, bname): (&Path, &[Layer], &OsStr),
    ) -> Res<()> {
        let (apath, bpath) = (adir.join(aname), bdir.join(bname));
        self.copy_up_tree(a)?;
        self.copy_up_tree(b)?;
        let (aup, bup) = (self.stack.upper_path(&apath), self.stack.upper_path(&bpath));
        // Each directory lands where the other was: opaque if a lower layer has that name.
        if self.node(a)?.is_dir() && self.stack.lower_has(bmerged, bdir, bname).map_err(errno)? {
            copyup::set_opaque(&aup).map_err(errno)?;
        }
        if self.node(b)?.is_dir() && self.stack.lower_has(amerged, adir, aname).map_err(errno)? {
            copyup::set_opaque(&bup).map_err(errno)?;
        }
        rename2(&aup, &bup, RenameFlags::RENAME_EXCHANGE).map_err(errno)?;
        let swap = PathBuf::from("\u{0}exchange");
        let mut t = self.table();
        t.rename_prefix(&apath, &swap);
        t.rename_prefix(&bpath, &apath);
        t.rename_prefix(&swap, &bpath);
        drop(t);
        self.flatten_moved(&apath);
        self.flatten_moved(&bpath);
        Ok(())
    }

    /// After a move, the tree at `path` lives in upper only (copied up
    /// whole, and opaque where the new place has lower entries).
    fn flatten_moved(&self, path: &Path) {
        let mut t = self.table();
        let is_dir = t
            .ino_by_path(path)
            .and_then(|i| t.get(i))
            .is_some_and(|n| n.is_dir());
        if !is_dir {
            return;
        }
        // Upper directories changed paths: their `.wh.` sets are keyed by path.
        self.stack.upper_markers.forget_all();
        self.lower_absent.clear();
        let mut inos = t.descendants(path);
        inos.extend(t.ino_by_path(path));
        for ino in inos {
            if let Some(n) = t.get_mut(ino)
                && n.is_dir()
            {
                n.merged = vec![Layer::Upper];
            }
        }
    }
}
