//! FUSE over io_uring (strata addition, see STRATA-CHANGES.md).
//!
//! Linux 6.14+ (ABI 7.42) can hand requests to the daemon through io_uring
//! instead of read(2)/write(2) on /dev/fuse: one queue per possible CPU
//! (the kernel picks the queue of the CPU the request was issued on), each
//! with a few long-lived entries the daemon registers with
//! `FUSE_IO_URING_CMD_REGISTER`. An entry is a header buffer
//! (`struct fuse_uring_req_header`) and a payload buffer; the kernel
//! fills them and completes the entry's command, the daemon answers in the
//! same buffers and submits `FUSE_IO_URING_CMD_COMMIT_AND_FETCH`, which
//! commits the reply and waits for the next request in one go. The ring
//! thread of a queue is pinned to its CPU, so a request is served on the
//! CPU that issued it without a cross-CPU wakeup.
//!
//! Each queue is served by `THREADS_PER_QUEUE` threads with one entry
//! each: the kernel hands a request to an entry that is waiting, so while
//! one thread is busy with a long request (a copy-up, an fsync) the next
//! request of that CPU goes to the other thread instead of waiting behind
//! it, as it would with several entries in one thread. The kernel reuses
//! the entry committed last first, so a sequential workload keeps to one
//! thread.
//!
//! What does not travel over the ring stays on /dev/fuse: FORGET and
//! INTERRUPT (the kernel queues them there), notifications and the
//! passthrough backing-file ioctls. The session keeps its /dev/fuse
//! threads for them, which also serve everything if the kernel refuses
//! the registration (it then turns the ring off for the connection).
//!
//! Protocol reference: include/uapi/linux/fuse.h (7.42),
//! fs/fuse/dev_uring.c, Documentation/filesystems/fuse-io-uring.rst.

use std::fmt;
use std::io;
use std::io::IoSlice;
use std::os::fd::AsFd;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use io_uring::IoUring;
use io_uring::cqueue;
use io_uring::opcode;
use io_uring::squeue;
use io_uring::types;
use log::debug;
use log::error;
use log::warn;
use parking_lot::Condvar;
use parking_lot::Mutex;
use zerocopy::IntoBytes;

use crate::Filesystem;
use crate::ReplyEmpty;
use crate::channel::Channel;
use crate::channel::ChannelSender;
use crate::ll::Operation;
use crate::reply::Reply;
use crate::reply::ReplyTo;
use crate::request::RequestWithSender;
use crate::session::SessionEventLoop;

/// Threads (each with its own ring and one entry) per queue: how many
/// requests of one CPU can be served at once. Each entry costs a payload
/// buffer of max_write size.
const THREADS_PER_QUEUE: usize = 2;
/// Entries per thread: one, so that a busy thread holds no idle entry the
/// kernel could give a request to (see the module comment). It also means
/// the kernel's task work for the entry (copying the next request in, run
/// in this thread's context and signalled like a signal) only arrives
/// while the thread waits in io_uring_enter for exactly that, never in the
/// middle of a handler's own syscalls.
const ENTRIES_PER_THREAD: u32 = 1;

const FUSE_IO_URING_CMD_REGISTER: u32 = 1;
const FUSE_IO_URING_CMD_COMMIT_AND_FETCH: u32 = 2;

/// `struct fuse_uring_req_header`: `in_out` (fuse_in_header on fetch,
/// fuse_out_header on commit), `op_in` (the per-opcode struct, the
/// request's first argument), `ring_ent_in_out`.
const OP_IN_OFF: usize = 128;
const OP_IN_SZ: usize = 128;
const ENT_COMMIT_ID_OFF: usize = 256 + 8;
const ENT_PAYLOAD_SZ_OFF: usize = 256 + 16;
const REQ_HEADER_SZ: usize = 256 + 32;
const IN_HEADER_SZ: usize = 40;
const OUT_HEADER_SZ: usize = 16;

/// The payload buffer starts this far into an entry's memory. The gap
/// after the header lets a request be rebuilt in place in the byte layout
/// read(2) gives (fuse_in_header, op struct, payload), which is what the
/// parser takes, without copying the payload.
const PAYLOAD_OFF: usize = 4096;

/// Rings set up during the handshake, before the INIT reply offers the
/// kernel FUSE_OVER_IO_URING: if io_uring itself is unavailable (kernel
/// built without it, `kernel.io_uring_disabled`), the INIT reply does not
/// ask for it and the connection stays on /dev/fuse. Once the kernel has
/// accepted the flag it holds new requests back until every queue has an
/// entry registered, so registration must follow.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// `THREADS_PER_QUEUE` rings per queue.
    rings: Vec<Ring>,
    queues: usize,
    payload_size: usize,
}

/// The ring of one serving thread of queue `qid`.
struct Ring {
    qid: u16,
    ring: IoUring<squeue::Entry128, cqueue::Entry>,
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring").field("qid", &self.qid).finish()
    }
}

impl Prepared {
    /// `THREADS_PER_QUEUE` rings per possible CPU (the kernel's queue
    /// count), each for `ENTRIES_PER_THREAD` entries whose payload
    /// buffers hold `payload_size` bytes (at least the kernel's max_write
    /// and max_pages, or it refuses the registration).
    pub(crate) fn new(payload_size: usize) -> io::Result<Self> {
        let n = possible_cpus()?;
        let qids = u16::try_from(n).map_err(|_| io::Error::other("too many CPUs"))?;
        let mut rings = Vec::with_capacity(n * THREADS_PER_QUEUE);
        for qid in 0..qids {
            for _ in 0..THREADS_PER_QUEUE {
                let ring = IoUring::<squeue::Entry128, cqueue::Entry>::builder()
                    .setup_cqsize(ENTRIES_PER_THREAD * 2)
                    .build(ENTRIES_PER_THREAD)?;
                rings.push(Ring { qid, ring });
            }
        }
        Ok(Prepared {
            rings,
            queues: n,
            payload_size,
        })
    }

    pub(crate) fn queue_count(&self) -> usize {
        self.queues
    }

    /// Starts the serving threads, `make_ctx(qid, k)` giving the k-th
    /// thread of queue `qid` its filesystem and name.
    pub(crate) fn spawn<FS: Filesystem>(
        self,
        ch: &Channel,
        mut make_ctx: impl FnMut(u16, usize) -> SessionEventLoop<FS>,
    ) -> io::Result<Vec<std::thread::JoinHandle<io::Result<()>>>> {
        let mut threads = Vec::with_capacity(self.rings.len());
        for (i, ring) in self.rings.into_iter().enumerate() {
            let ctx = make_ctx(ring.qid, i % THREADS_PER_QUEUE);
            let ch = ch.clone();
            let payload_size = self.payload_size;
            threads.push(
                std::thread::Builder::new()
                    .name(ctx.thread_name.clone())
                    .spawn(move || ring.serve(&ch, &ctx, payload_size))?,
            );
        }
        Ok(threads)
    }
}

/// The reply to the request an entry holds, filled by whichever thread
/// answers it (the fs may reply from another thread) and copied into the
/// entry's buffers by the ring thread once the dispatch has let go of the
/// request's bytes, which live in those same buffers.
#[derive(Default)]
struct ReplySlot {
    state: Mutex<SlotState>,
    ready: Condvar,
}

#[derive(Default)]
struct SlotState {
    /// fuse_out_header followed by the payload, as written to /dev/fuse.
    reply: Vec<u8>,
    done: bool,
}

/// The sending side of a [`ReplySlot`], inside a `ReplySender::Ring`.
#[derive(Clone)]
pub(crate) struct RingSender {
    slot: Arc<ReplySlot>,
    /// /dev/fuse, for the passthrough backing-file ioctls.
    dev: ChannelSender,
}

impl fmt::Debug for RingSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RingSender")
    }
}

impl RingSender {
    pub(crate) fn send(&self, data: &[IoSlice<'_>]) {
        let mut state = self.slot.state.lock();
        state.reply.clear();
        for d in data {
            state.reply.extend_from_slice(d);
        }
        state.done = true;
        drop(state);
        self.slot.ready.notify_one();
    }

    pub(crate) fn device(&self) -> &ChannelSender {
        &self.dev
    }
}

/// One registered entry: its header and payload buffers in one
/// allocation (u64 for the alignment the parser needs), and the iovecs
/// the REGISTER command points the kernel at.
struct Entry {
    mem: Vec<u64>,
    iov: Box<[libc::iovec; 2]>,
    commit_id: u64,
    /// The command to resubmit after EAGAIN/EINTR.
    last_cmd: u32,
}

impl Entry {
    fn new(payload_size: usize) -> Self {
        let mut mem = vec![0u64; (PAYLOAD_OFF + payload_size).div_ceil(8)];
        let base = mem.as_mut_ptr().cast::<u8>();
        let iov = Box::new([
            libc::iovec {
                iov_base: base.cast(),
                iov_len: REQ_HEADER_SZ,
            },
            libc::iovec {
                iov_base: base.wrapping_add(PAYLOAD_OFF).cast(),
                iov_len: payload_size,
            },
        ]);
        Entry {
            mem,
            iov,
            commit_id: 0,
            last_cmd: FUSE_IO_URING_CMD_REGISTER,
        }
    }

    /// The SQE that hands this entry (back) to the kernel.
    fn sqe(&self, fd: i32, qid: u16, index: usize) -> squeue::Entry128 {
        let mut cmd = [0u8; 80];
        // struct fuse_uring_cmd_req { u64 flags; u64 commit_id; u16 qid; u8 pad[6] }
        cmd[8..16].copy_from_slice(&self.commit_id.to_ne_bytes());
        cmd[16..18].copy_from_slice(&qid.to_ne_bytes());
        let sqe = opcode::UringCmd80::new(types::Fd(fd), self.last_cmd).cmd(cmd);
        if self.last_cmd == FUSE_IO_URING_CMD_REGISTER {
            let sqe = sqe.addr(Some(self.iov.as_ptr() as u64)).build();
            with_sqe_len(sqe, 2).user_data(index as u64)
        } else {
            sqe.build().user_data(index as u64)
        }
    }

    /// Serves the request the kernel put in this entry and leaves the
    /// reply in its buffers, ready for COMMIT_AND_FETCH.
    fn serve<FS: Filesystem>(
        &mut self,
        ctx: &SessionEventLoop<FS>,
        sender: &RingSender,
        payload_size: usize,
    ) {
        let bytes = self.mem.as_mut_bytes();
        self.commit_id = read_u64(bytes, ENT_COMMIT_ID_OFF);
        self.last_cmd = FUSE_IO_URING_CMD_COMMIT_AND_FETCH;
        let unique = read_u64(bytes, 8);
        let len = read_u32(bytes, 0) as usize;
        let payload_sz = read_u32(bytes, ENT_PAYLOAD_SZ_OFF) as usize;
        // The op struct's size is not sent: it is what the request length
        // (header and all arguments) leaves after the header and payload.
        let op_size = len
            .checked_sub(IN_HEADER_SZ + payload_sz)
            .filter(|&n| n <= OP_IN_SZ && payload_sz <= payload_size);
        let Some(op_size) = op_size else {
            error!("io_uring: malformed request (len {len}, payload {payload_sz})");
            return write_error(bytes, unique, libc::EIO);
        };
        // Rebuild [fuse_in_header][op struct][payload] right before the
        // payload: the gap is far behind the 288-byte header, no overlap.
        let start = PAYLOAD_OFF - IN_HEADER_SZ - op_size;
        bytes.copy_within(0..IN_HEADER_SZ, start);
        bytes.copy_within(OP_IN_OFF..OP_IN_OFF + op_size, start + IN_HEADER_SZ);
        let opcode = read_u32(bytes, 4);
        sender.slot.state.lock().done = false;
        let request = &bytes[start..PAYLOAD_OFF + payload_sz];
        if start % 8 == 0 {
            dispatch(ctx, sender, request);
        } else {
            // Op structs are 8-byte multiples; stay correct if one is not.
            let mut aligned = vec![0u64; request.len().div_ceil(8)];
            aligned.as_mut_bytes()[..request.len()].copy_from_slice(request);
            dispatch(ctx, sender, &aligned.as_bytes()[..request.len()]);
        }
        // FORGET gets no reply; the kernel sends it on /dev/fuse anyway.
        if matches!(opcode, 2 | 42) {
            return write_reply(bytes, &out_header(unique, 0), payload_size);
        }
        let mut state = sender.slot.state.lock();
        while !state.done {
            sender.slot.ready.wait(&mut state);
        }
        write_reply(bytes, &state.reply, payload_size);
    }
}

fn dispatch<FS: Filesystem>(ctx: &SessionEventLoop<FS>, sender: &RingSender, request: &[u8]) {
    let to = ReplyTo::Ring(sender.clone());
    match RequestWithSender::new(to.clone(), request) {
        Some(req) => match req.request.operation() {
            // The session ends when the kernel tears the queues down.
            Ok(Operation::Destroy(_)) => req.reply::<ReplyEmpty>().ok(),
            _ => req.dispatch(ctx),
        },
        None => {
            // Unparseable: still answer, or the request hangs.
            let unique = crate::ll::RequestId(read_u64(request, 8));
            <crate::reply::ReplyRaw as Reply>::new(unique, to.sender())
                .error(crate::ll::Errno::EIO);
        }
    }
}

impl Ring {
    /// The ring thread: registers the entries, then serves and commits
    /// until the kernel ends every entry (unmount or abort: ENOTCONN).
    fn serve<FS: Filesystem>(
        mut self,
        ch: &Channel,
        ctx: &SessionEventLoop<FS>,
        payload_size: usize,
    ) -> io::Result<()> {
        pin_to_cpu(usize::from(self.qid));
        let fd = ch.as_fd().as_raw_fd();
        let sender = RingSender {
            slot: Arc::new(ReplySlot::default()),
            dev: ch.sender(),
        };
        let mut entries: Vec<Entry> = (0..ENTRIES_PER_THREAD)
            .map(|_| Entry::new(payload_size))
            .collect();
        for (i, e) in entries.iter().enumerate() {
            self.push(e.sqe(fd, self.qid, i))?;
        }
        // Entries the kernel holds: their buffers must outlive it.
        let mut live = entries.len();
        let mut done = Vec::with_capacity(entries.len());
        while live > 0 {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => {
                    // The kernel may still write into entries it holds.
                    std::mem::forget(entries);
                    return Err(e);
                }
            }
            done.clear();
            done.extend(
                self.ring
                    .completion()
                    .map(|c| (c.user_data() as usize, c.result())),
            );
            for &(i, res) in &done {
                let Some(entry) = entries.get_mut(i) else {
                    continue;
                };
                match -res {
                    0 => {
                        entry.serve(ctx, &sender, payload_size);
                        self.push(entry.sqe(fd, self.qid, i))?;
                    }
                    libc::EAGAIN | libc::EINTR => self.push(entry.sqe(fd, self.qid, i))?,
                    errno => {
                        live -= 1;
                        let err = io::Error::from_raw_os_error(errno);
                        match errno {
                            libc::ENOTCONN | libc::ECONNABORTED | libc::ECANCELED => {
                                debug!("io_uring queue {}: entry {i} ended ({err})", self.qid)
                            }
                            _ => warn!("io_uring queue {}: entry {i} failed: {err}", self.qid),
                        }
                    }
                }
            }
        }
        debug!("io_uring queue {} done", self.qid);
        Ok(())
    }

    fn push(&mut self, sqe: squeue::Entry128) -> io::Result<()> {
        // SAFETY: the entry's buffers and iovecs live in `entries` until
        // every command is completed (the serve loop only returns then, or
        // leaks them), and the SQ has room: it holds ENTRIES_PER_THREAD
        // commands, one per entry at a time.
        unsafe { self.ring.submission().push(&sqe) }
            .map_err(|_| io::Error::other("io_uring submission queue full"))
    }
}

/// Sets the SQE's `len` (the iovec count REGISTER reads), which the io-uring
/// crate's `UringCmd80` has no setter for.
fn with_sqe_len(sqe: squeue::Entry128, len: u32) -> squeue::Entry128 {
    // SAFETY: Entry128 is repr(C): the 64-byte io_uring_sqe, then 64 bytes
    // of command area; plain integers, any bit pattern valid. `len` is the
    // u32 at byte 24 of io_uring_sqe (uapi/linux/io_uring.h).
    let mut raw: [u8; 128] = unsafe { std::mem::transmute(sqe) };
    raw[24..28].copy_from_slice(&len.to_ne_bytes());
    // SAFETY: as above, back to the same type.
    unsafe { std::mem::transmute::<[u8; 128], squeue::Entry128>(raw) }
}

fn out_header(unique: u64, errno: i32) -> [u8; OUT_HEADER_SZ] {
    let mut h = [0u8; OUT_HEADER_SZ];
    h[0..4].copy_from_slice(&(OUT_HEADER_SZ as u32).to_ne_bytes());
    h[4..8].copy_from_slice(&(-errno).to_ne_bytes());
    h[8..16].copy_from_slice(&unique.to_ne_bytes());
    h
}

fn write_error(bytes: &mut [u8], unique: u64, errno: i32) {
    bytes[..OUT_HEADER_SZ].copy_from_slice(&out_header(unique, errno));
    bytes[ENT_PAYLOAD_SZ_OFF..ENT_PAYLOAD_SZ_OFF + 4].copy_from_slice(&0u32.to_ne_bytes());
}

/// Puts a /dev/fuse-style reply (out header + payload) into the entry:
/// the header into `in_out`, the payload into the payload buffer.
fn write_reply(bytes: &mut [u8], reply: &[u8], payload_size: usize) {
    let Some((header, payload)) = reply.split_at_checked(OUT_HEADER_SZ) else {
        error!("io_uring: short reply ({} bytes)", reply.len());
        return write_error(bytes, read_u64(bytes, 8), libc::EIO);
    };
    if payload.len() > payload_size {
        error!("io_uring: reply of {} bytes exceeds the buffer", payload.len());
        return write_error(bytes, read_u64(header, 8), libc::EIO);
    }
    bytes[..OUT_HEADER_SZ].copy_from_slice(header);
    bytes[PAYLOAD_OFF..PAYLOAD_OFF + payload.len()].copy_from_slice(payload);
    let n = payload.len() as u32;
    bytes[ENT_PAYLOAD_SZ_OFF..ENT_PAYLOAD_SZ_OFF + 4].copy_from_slice(&n.to_ne_bytes());
}

fn read_u32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_ne_bytes(a)
}

fn read_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_ne_bytes(a)
}

/// The kernel makes one queue per possible CPU (`num_possible_cpus()`).
fn possible_cpus() -> io::Result<usize> {
    let list = std::fs::read_to_string("/sys/devices/system/cpu/possible")?;
    let mut n = 0;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        let bad = || io::Error::other(format!("cpu list {list:?}"));
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: usize = a.parse().map_err(|_| bad())?;
        let b: usize = b.parse().map_err(|_| bad())?;
        n += b.checked_sub(a).ok_or_else(bad)? + 1;
    }
    if n == 0 {
        return Err(io::Error::other("no possible CPUs"));
    }
    Ok(n)
}

/// Pins the calling thread to `cpu`: the kernel queues a request on the
/// queue of the CPU it was issued on, served by this thread. An offline
/// CPU cannot be pinned to; its queue is served from anywhere.
fn pin_to_cpu(cpu: usize) {
    // SAFETY: cpu_set_t is plain data, zero is the empty set; CPU_SET
    // ignores CPUs beyond the set's size; sched_setaffinity(0) only
    // affects the calling thread and reads `set`.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        debug!(
            "io_uring queue {cpu}: not pinned: {}",
            io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_sqe_carries_iovec_count_and_queue() {
        let e = Entry::new(8192);
        let sqe = e.sqe(7, 3, 5);
        // SAFETY: see with_sqe_len.
        let raw: [u8; 128] = unsafe { std::mem::transmute(sqe) };
        assert_eq!(raw[0], 46); // IORING_OP_URING_CMD
        assert_eq!(i32::from_ne_bytes(raw[4..8].try_into().unwrap()), 7);
        assert_eq!(u32::from_ne_bytes(raw[24..28].try_into().unwrap()), 2);
        assert_eq!(
            u64::from_ne_bytes(raw[16..24].try_into().unwrap()),
            e.iov.as_ptr() as u64
        );
        // cmd area at byte 48: flags, commit_id, qid
        assert_eq!(u16::from_ne_bytes(raw[64..66].try_into().unwrap()), 3);
        assert_eq!(u64::from_ne_bytes(raw[32..40].try_into().unwrap()), 5);
    }

    #[test]
    fn reply_goes_to_header_and_payload() {
        let mut e = Entry::new(8192);
        let bytes = e.mem.as_mut_bytes();
        let mut reply = out_header(9, 0).to_vec();
        reply[0..4].copy_from_slice(&20u32.to_ne_bytes());
        reply.extend_from_slice(b"abcd");
        write_reply(bytes, &reply, 8192);
        assert_eq!(read_u64(bytes, 8), 9);
        assert_eq!(read_u32(bytes, ENT_PAYLOAD_SZ_OFF), 4);
        assert_eq!(&bytes[PAYLOAD_OFF..PAYLOAD_OFF + 4], b"abcd");
        write_reply(bytes, &reply, 2);
        assert_eq!(read_u32(bytes, 4) as i32, -libc::EIO);
    }

    #[test]
    fn counts_possible_cpus() {
        assert!(possible_cpus().unwrap() >= 1);
    }
}
