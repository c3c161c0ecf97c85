//! Open files and their data: open (copy-up on write), read, write, fsync,
//! fallocate, lseek SEEK_DATA/SEEK_HOLE, copy_file_range, release.

use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::Arc;

use fuser::Errno;
use nix::fcntl::FallocateFlags;
use nix::unistd::Whence;

use super::namespace::backing_flags;
use super::{NsGuard, Res, UnionFs, errno, nix_errno};
use crate::handles::OpenFile;
use crate::layers::Layer;

/// How much of a lower file an open starts reading (the kernel's default
/// read-ahead window).
const OPEN_READ_AHEAD: i64 = 128 << 10;

/// Starts reading the head of a lower file opened for reading, without
/// waiting. Its data comes through this process: the kernel's READ
/// requests follow the OPEN reply a round trip later, and by then the disk
/// is at work (a cold `tar` of the benchmark tree is a chain of OPEN, READ,
/// GETATTR, RELEASE per file, each waiting for the last). Bounded by the
/// window and by the end of the file; a file nobody reads after opening
/// costs at most one window, as the kernel's first read-ahead would.
fn read_ahead(file: &File) {
    use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};
    // Only advice: a failure changes nothing but the speed.
    let _ = posix_fadvise(
        file,
        0,
        OPEN_READ_AHEAD,
        PosixFadviseAdvice::POSIX_FADV_WILLNEED,
    );
}

/// The largest read buffer a session thread keeps between READs.
const KEPT_READ_BUFFER: usize = 256 << 10;

/// Whether open flags may modify the file (needs copy-up).
fn writes(flags: i32) -> bool {
    flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0
}

impl UnionFs {
    pub fn open(&self, ino: u64, flags: i32) -> Res<u64> {
        // Held until the backing file is open, so no rename moves it meanwhile.
        let _ns = if writes(flags) {
            self.lock_to_modify(ino)?
        } else {
            NsGuard::Read(self.read_ns())
        };
        // A node with a name (the usual case) is read without cloning it.
        let linked = self.with_node(ino, |n| {
            (!n.unlinked()).then(|| (n.layer, self.stack.path(n.layer, &n.src)))
        })?;
        let (layer, path) = match linked {
            Some(found) => found,
            None => {
                let (node, path) = self.backing_path(ino)?;
                (node.layer, path)
            }
        };
        let mut opts = File::options();
        match flags & libc::O_ACCMODE {
            libc::O_WRONLY => opts.write(true),
            libc::O_RDWR => opts.read(true).write(true),
            _ => opts.read(true),
        };
        let file = opts
            .truncate(flags & libc::O_TRUNC != 0)
            .custom_flags(backing_flags(flags) | libc::O_NOFOLLOW)
            .open(path)
            .map_err(errno)?;
        let upper = layer == Layer::Upper;
        if !upper && !writes(flags) {
            read_ahead(&file);
        }
        Ok(self.files.insert(OpenFile::new(ino, file, upper)))
    }

    /// The backing file of handle `fh`. A read-only open of a lower file
    /// that has since been copied up moves to the copy, so it sees writes
    /// made through other opens (kernel overlayfs does the same).
    pub(crate) fn backing(&self, fh: u64) -> Res<Arc<File>> {
        let open = self.files.get(fh).ok_or(Errno::EBADF)?;
        if !open.is_upper() {
            let _ns = self.read_ns();
            // Only a copy needs the path (every READ of a lower file asks).
            let copied = self.with_node(open.ino, |n| {
                (n.layer == Layer::Upper && !n.unlinked()).then(|| n.src.clone())
            })?;
            if let Some(src) = copied {
                let path = self.stack.path(Layer::Upper, &src);
                let file = File::options()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(path)
                    .map_err(errno)?;
                open.switch_to_upper(file);
            }
        }
        Ok(open.current())
    }

    #[cfg(test)]
    pub fn read(&self, fh: u64, offset: u64, size: u32) -> Res<Vec<u8>> {
        self.read_with(fh, offset, size, |r| r.map(<[u8]>::to_vec))
    }

    /// Reads up to `size` bytes at `offset` and hands them (or the error)
    /// to `reply`, from a buffer the thread keeps: no allocation, zeroing
    /// and page faults per READ (a cold `tar` of the benchmark tree makes
    /// 129k).
    pub fn read_with<R>(
        &self,
        fh: u64,
        offset: u64,
        size: u32,
        reply: impl FnOnce(Res<&[u8]>) -> R,
    ) -> R {
        thread_local! {
            static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let f = match self.backing(fh) {
            Ok(f) => f,
            Err(e) => return reply(Err(e)),
        };
        BUF.with_borrow_mut(|kept| {
            let size = size as usize;
            if kept.len() < size {
                kept.resize(size, 0);
            }
            let buf = &mut kept[..size];
            let mut done = 0;
            let res = loop {
                if done == size {
                    break Ok(());
                }
                match f.read_at(&mut buf[done..], offset + done as u64) {
                    Ok(0) => break Ok(()),
                    Ok(n) => done += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => break Err(errno(e)),
                }
            };
            let out = reply(res.map(|()| &buf[..done]));
            // Reads are read-ahead windows (128 KiB); a rare bigger one
            // (up to max_write, 1 MiB) is not kept by every thread.
            if kept.len() > KEPT_READ_BUFFER {
                *kept = Vec::new();
            }
            out
        })
    }

    pub fn write(&self, fh: u64, offset: u64, data: &[u8]) -> Res<u32> {
        let f = self.backing(fh)?;
        f.write_all_at(data, offset).map_err(errno)?;
        Ok(data.len() as u32)
    }

    /// Clears S_ISUID (and S_ISGID with S_IXGRP) of the file open as `fh`:
    /// the kernel asks for it before a write, or with an O_TRUNC open, by a
    /// caller without CAP_FSETID (FUSE_HANDLE_KILLPRIV_V2). The daemon's
    /// own write would keep them, as it has CAP_FSETID; it does drop
    /// `security.capability` itself (the backing fs's `file_remove_privs`).
    pub fn kill_suidgid(&self, fh: u64) -> Res<()> {
        super::attr::kill_suidgid(&*self.backing(fh)?)
    }

    pub fn fsync(&self, fh: u64, datasync: bool) -> Res<()> {
        let f = self.backing(fh)?;
        if datasync {
            f.sync_data()
        } else {
            f.sync_all()
        }
        .map_err(errno)
    }

    pub fn release(&self, fh: u64) {
        let Some(f) = self.files.remove(fh) else {
            return;
        };
        let ino = f.ino;
        drop(f);
        // A node the kernel forgot while it was open goes with its last file.
        self.forget(ino, 0);
    }

    pub fn fallocate(&self, fh: u64, offset: u64, length: u64, mode: i32) -> Res<()> {
        let f = self.backing(fh)?;
        nix::fcntl::fallocate(
            &*f,
            FallocateFlags::from_bits_truncate(mode),
            offset as i64,
            length as i64,
        )
        .map_err(nix_errno)
    }

    pub fn lseek(&self, fh: u64, offset: i64, whence: i32) -> Res<i64> {
        let f = self.backing(fh)?;
        let whence = match whence {
            libc::SEEK_DATA => Whence::SeekData,
            libc::SEEK_HOLE => Whence::SeekHole,
            libc::SEEK_SET => Whence::SeekSet,
            libc::SEEK_END => Whence::SeekEnd,
            _ => return Err(Errno::EINVAL),
        };
        nix::unistd::lseek64(&*f, offset, whence).map_err(nix_errno)
    }

    /// copy_file_range between two open files, at explicit offsets (the
    /// backing files' own positions are never used).
    pub fn copy_file_range(
        &self,
        fh_in: u64,
        off_in: u64,
        fh_out: u64,
        off_out: u64,
        len: u64,
    ) -> Res<u32> {
        let (fin, fout) = (self.backing(fh_in)?, self.backing(fh_out)?);
        let (mut oi, mut oo) = (off_in as i64, off_out as i64);
        let len = len.min(u32::MAX as u64 & !0xfff) as usize;
        let n = nix::fcntl::copy_file_range(&*fin, Some(&mut oi), &*fout, Some(&mut oo), len)
            .map_err(nix_errno)?;
        Ok(n as u32)
    }
}
