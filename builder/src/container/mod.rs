//! Containers as records in the store's catalog, each with its own
//! `containers/<id>/{upper,work,merged}` and the image's layers + upper
//! mounted through the union filesystem. Processes come from
//! [`crate::runtime`]; this module only wires images, dirs and rows.
//!
//! Public API (what the CLI calls):
//! - [`Containers::new`]`(&store)`; [`Containers::create`]`(image, Options)`
//!   -> [`Record`]; [`Containers::resolve`]`(name | id | id prefix)`;
//!   [`Containers::list`]; [`Containers::set_running`],
//!   [`Containers::set_exited`]; [`Containers::remove`].
//! - [`Containers::mount`]`(&record)` -> [`overlayfs::MountGuard`]: the
//!   union mount at `merged/` (undone when the guard drops).
//! - [`Containers::spec`]`(&record)` -> the runtime's `ContainerSpec`.
//! - [`Containers::commit`]`(&record, CommitOptions)` -> new image id;
//!   [`diff`]`(upper, lowerdirs)` -> Docker's A/C/D lines.
//! - [`process_spec`]: Docker's rules for Env/WorkingDir/User/Entrypoint/Cmd.

mod changes;
mod commit;
mod config;
mod error;
mod record;
pub mod sys;

pub use changes::{Change, diff};
pub use commit::CommitOptions;
pub use config::{Options, entrypoint_and_cmd, process_spec};
pub use error::{ContainerError, Result};
pub use record::{Containers, Record, State};
