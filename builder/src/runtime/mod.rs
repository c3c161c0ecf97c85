//! The container runtime: runs a process in a ready root filesystem, in new
//! mount, PID, UTS and IPC namespaces (and network with `--network none`),
//! like `runc run` does for Docker. It knows nothing about images: the
//! caller assembles the rootfs (the union mount of an image's layers and
//! the container's upper) and describes the process in a [`ContainerSpec`].
//!
//! Process model (see docs/runtime.md): [`Runtime::run`] re-executes the
//! strata binary as `strata __init` with the spec on a channel; the init
//! creates the PID namespace and forks the container's PID 1, which creates
//! its other namespaces, sets up its filesystem ([`rootfs::prepare`]),
//! pivots and execs. The init stays outside as the waiter and reports
//! through typed [`channel::Message`]s.
//!
//! The `strata` binary must call [`init_main`] when its first argument is
//! [`INIT_ARG`], before anything else (no threads, no argument parsing).

pub mod caps;
pub mod channel;
mod child;
pub mod container;
pub mod control;
pub mod error;
mod init;
pub mod log;
pub mod rootfs;
pub mod spec;
mod sys;
pub mod syscall;
pub mod tty;
pub mod user;

pub use channel::ExitStatus;
pub use container::{Container, Runtime, Stdio};
pub use control::{
    ProcessIdentity, Stopped, container_processes, parse_signal, pause, resume, stop_process,
};
pub use error::{RuntimeError, StartFailure, StartFailureKind};
pub use init::{INIT_ARG, init_main};
pub use spec::{BindMount, ContainerSpec, NetworkMode, ProcessSpec};
