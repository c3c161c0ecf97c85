//! The one raw call containers need outside the runtime.
//!
//! `unsafe` is allowed here because nix marks every `sigaction` unsafe
//! (a handler could be anything); setting `SIG_IGN` installs no handler.
#![allow(unsafe_code)]

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

/// Ignores `sig` in this process. Call it only after the container's init
/// was started: ignored dispositions survive exec, and the container must
/// not inherit them.
pub fn ignore_signal(sig: Signal) -> nix::Result<()> {
    let action = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN runs no code in this process.
    unsafe { sigaction(sig, &action) }.map(|_| ())
}

/// Whether `dir` (in a kernel-overlay-format upper or layer) is opaque:
/// `trusted.overlay.opaque` is `y`.
pub fn is_opaque(dir: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    let mut buf = [0u8; 4];
    // SAFETY: both strings are NUL-terminated; `buf` is valid for its length.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n == 1 && buf[0] == b'y'
}
