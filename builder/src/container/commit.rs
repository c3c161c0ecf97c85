//! `container commit`: the container's upper frozen into a layer on top of
//! its image, with the container's run config, a history entry and `-c`
//! changes, as a new image whose parent is the container's image.

use std::path::Path;

use super::changes::runtime_mount_points;
use super::error::{ContainerError, Result, io_err};
use super::record::{Containers, Record, State};
use crate::runtime::control;
use crate::store::time::{format_rfc3339, now_unix};
use crate::store::{History, ImageId, apply_change, extract_layer, write_tree_tar};

/// `commit` flags.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `-c`: Dockerfile instructions (CMD, ENTRYPOINT, ENV, ...).
    pub changes: Vec<String>,
    /// `-m`
    pub message: Option<String>,
    /// `--author`
    pub author: Option<String>,
    /// `--pause` (default true): SIGSTOP a running container meanwhile.
    pub pause: bool,
}

impl Containers<'_> {
    /// Makes a new image of `r`'s image + its changes. The container is left
    /// as it was (its upper is copied, not moved).
    pub fn commit(&self, r: &Record, opts: &CommitOptions) -> Result<ImageId> {
        let store = self.store();
        let image = store.resolve_image(&r.image_id)?;
        let lowerdirs = store.image_lowerdirs(&image)?;
        let upper = self.upper(&r.id);
        let staged = store.staging_dir("commit")?;
        let paused = match (r.state, r.pid) {
            (State::Running, Some(pid)) if opts.pause => {
                control::pause(pid)?;
                Some(pid)
            }
            _ => None,
        };
        let copied = copy_upper(&upper, &staged);
        if let Some(pid) = paused {
            control::resume(pid)?;
        }
        copied?;
        drop_mount_points(&staged, &runtime_mount_points(&upper, &lowerdirs))?;
        let layer = store.freeze(&staged)?;

        let mut config = image.config.clone();
        let now = format_rfc3339(now_unix());
        let run = &mut config.config;
        run.env = r.config.process.env.clone();
        run.cmd = Some(r.config.cmd.clone()).filter(|c| !c.is_empty());
        run.entrypoint = Some(r.config.entrypoint.clone()).filter(|e| !e.is_empty());
        run.working_dir = r.config.process.cwd.clone();
        if run.working_dir == "/" && image.config.config.working_dir.is_empty() {
            run.working_dir.clear();
        }
        run.user = r.config.process.user.clone();
        for change in &opts.changes {
            apply_change(&mut config, change)?;
        }
        config.created = Some(now.clone());
        config.author = opts.author.clone();
        config
            .rootfs
            .diff_ids
            .push(layer.diff_id.as_str().to_string());
        config.history.push(History {
            created: Some(now),
            author: opts.author.clone(),
            created_by: Some(r.config.process.args.join(" ")),
            comment: opts.message.clone(),
            empty_layer: false,
        });
        Ok(store.put_image(&config, Some(&image.id))?)
    }
}

/// Copies the upper through the store's canonical tar stream, which keeps
/// whiteouts, opaque dirs, hard links, owners and modes.
fn copy_upper(upper: &Path, dest: &Path) -> Result<()> {
    let (reader, writer) = std::io::pipe().map_err(io_err(upper))?;
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || write_tree_tar(upper, writer));
        let extracted = extract_layer(reader, dest);
        let produced = producer.join().map_err(|_| ContainerError::Io {
            path: upper.to_path_buf(),
            source: std::io::Error::other("tar writer thread panicked"),
        })?;
        produced?;
        extracted?;
        Ok(())
    })
}

/// Removes the runtime's mount points (children first) from the copy.
fn drop_mount_points(staged: &Path, paths: &[std::path::PathBuf]) -> Result<()> {
    for rel in paths {
        let path = staged.join(rel);
        let removed = if path.is_dir() {
            std::fs::remove_dir(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(io_err(&path))?;
    }
    Ok(())
}
