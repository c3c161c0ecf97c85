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
