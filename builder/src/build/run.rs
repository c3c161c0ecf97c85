//! RUN: a container on the union mount of the image's layers plus a fresh
//! upper directory; the upper becomes the step's layer.

use std::collections::VecDeque;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use super::Event;
use super::error::{BuildError, Result, io_err};
use super::fsutil::{Scratch, lookup, make_dir_like, make_parents};
use crate::runtime::{BindMount, ContainerSpec, NetworkMode, ProcessSpec, Runtime, Stdio};
use crate::store::{Layer, Store};

/// Lines of output a failed RUN shows.
pub const TAIL_LINES: usize = 10;

/// What to run.
pub struct RunStep<'a> {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: String,
    pub network: NetworkMode,
    pub line: usize,
    pub init_program: &'a Path,
    /// SOURCE_DATE_EPOCH: clamp the new layer's file times.
    pub epoch: Option<i64>,
    /// `RUN --mount`s and heredoc scripts, applied by the runtime.
    pub binds: Vec<BindMount>,
}

/// Mount points the runtime needs. When the image lacks them they are
/// provided by an extra, top-most lower layer made for this RUN only
/// (Docker's init layer), so the runtime never creates them in the upper
/// dir and they never reach the step's layer.
const MOUNT_POINT_FILES: [&str; 3] = ["etc/hosts", "etc/hostname", "etc/resolv.conf"];
const MOUNT_POINT_DIRS: [&str; 3] = ["dev", "proc", "sys"];

/// Runs the step and freezes its changes into a layer. On any failure the
/// mount is gone and the staging removed before returning.
pub fn run(
    store: &Store,
    lowerdirs: &[PathBuf],
    step: &RunStep<'_>,
    output: &mut dyn FnMut(Event),
    step_no: usize,
) -> Result<Layer> {
    let scratch = Scratch(store.staging_dir("run")?);
    let dirs = ["upper", "work", "merged", "state", "init"].map(|d| scratch.0.join(d));
    for d in &dirs {
        fs::create_dir(d).map_err(io_err(d))?;
    }
    let [upper, work, merged, state, init] = dirs;
    make_init_layer(&init, lowerdirs)?;
    let mut lowers = vec![init];
    lowers.extend_from_slice(lowerdirs);
    let config = overlayfs::Config {
        lowerdirs: lowers,
        upperdir: Some(upper.clone()),
        workdir: Some(work),
        ..Default::default()
    };
    let mount = overlayfs::mount(config, &merged).map_err(|source| BuildError::Mount {
        line: step.line,
        source,
    })?;
    let stubs = mount_stubs(&merged, &step.binds);
    let status = run_container(&merged, &state, step, output, step_no);
    mount.unmount().map_err(|source| BuildError::Mount {
        line: step.line,
        source,
    })?;
    let (code, tail) = status?;
    if code != 0 {
        return Err(BuildError::RunFailed {
            line: step.line,
            command: step.args.join(" "),
            code,
            tail: tail.into_iter().collect(),
            store_full: store.layout().is_full(),
        });
    }
    let parents = remove_stubs(&upper, &stubs)?;
    drop_copied_up_parents(&upper, lowerdirs, &parents)?;
    if let Some(epoch) = step.epoch {
        super::fsutil::clamp_times(&upper, epoch)?;
    }
    let layer = store.freeze(&upper)?;
    drop(scratch);
    Ok(layer)
}

/// Runs the container, relaying its output line by line; returns its exit
/// code and last lines.
fn run_container(
    merged: &Path,
    state: &Path,
    step: &RunStep<'_>,
    output: &mut dyn FnMut(Event),
    step_no: usize,
) -> Result<(i32, VecDeque<String>)> {
    let rt_err = |source| BuildError::Runtime {
        line: step.line,
        source,
    };
    let mut process = ProcessSpec::new(step.args.clone());
    process.env = step.env.clone();
    process.cwd = step.cwd.clone();
    process.user = step.user.clone();
    let hostname = format!("build-{}", std::process::id());
    let mut spec = ContainerSpec::new(merged, state, &hostname, process);
    spec.network = step.network;
    spec.mounts = step.binds.clone();
    let (read, write) = nix::unistd::pipe().map_err(|e| BuildError::Io {
        path: PathBuf::from("pipe"),
        source: e.into(),
    })?;
    let write2: OwnedFd = write.try_clone().map_err(io_err(Path::new("pipe")))?;
    let stdio = Stdio {
        stdin: None,
        stdout: Some(write),
        stderr: Some(write2),
    };
    let mut container = Runtime::new(step.init_program)
        .run_with_stdio(&spec, stdio)
        .map_err(rt_err)?;
    super::interrupt::set_running(container.pid());
    // Best effort: only a later recovery after SIGKILL needs it.
    let _ = crate::store::recover::record_process(state, container.pid());
    let mut tail = VecDeque::new();
    // Our copies of the write end went with the Command: EOF comes when
    // the container and its init are done with the pipe.
    let reader = BufReader::new(fs::File::from(read));
    for line in reader.split(b'\n') {
        let Ok(line) = line else { break };
        let line = String::from_utf8_lossy(&line).into_owned();
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line.clone());
        output(Event::Output {
            step: step_no,
            line,
        });
    }
    let status = container.wait().map_err(rt_err);
    super::interrupt::set_running(0);
    let status = status?;
    super::interrupt::check()?;
    Ok((status.exit_code(), tail))
}

/// Fills `init` with the mount points `lowerdirs` lack; parents keep the
/// image's metadata.
fn make_init_layer(init: &Path, lowerdirs: &[PathBuf]) -> Result<()> {
    for d in MOUNT_POINT_DIRS {
        if lookup(lowerdirs, Path::new(d)).is_none() {
            make_dir_like(init, lowerdirs, Path::new(d))?;
        }
    }
    for f in MOUNT_POINT_FILES {
        let rel = Path::new(f);
        if lookup(lowerdirs, rel).is_none() {
            make_parents(init, lowerdirs, rel)?;
            let p = init.join(rel);
            fs::write(&p, b"").map_err(io_err(&p))?;
        }
    }
    Ok(())
}

/// The paths (relative to the rootfs) the runtime will create as mount
/// points for `binds`: the missing part of each target, resolved inside
/// `merged` as the runtime resolves it. A target that cannot be resolved
/// makes the runtime fail, so it has no stubs.
fn mount_stubs(merged: &Path, binds: &[BindMount]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for b in binds {
        let Ok(abs) = crate::runtime::rootfs::resolve_in_root(merged, &b.destination) else {
            continue;
        };
        let Ok(rel) = abs.strip_prefix(merged) else {
            continue;
        };
        let mut cur = PathBuf::new();
        let mut missing = false;
        for c in rel.components() {
            cur.push(c);
            missing = missing || fs::symlink_metadata(merged.join(&cur)).is_err();
            if missing && !out.contains(&cur) {
                out.push(cur.clone());
            }
        }
    }
    out
}

/// Removes the mount points the runtime created (BuildKit's stub cleaner):
/// deepest first, each only if still an empty directory or empty file (the
/// step may have put something there). Returns the existing parents of the
/// removed stubs, which the union fs may have copied up unchanged.
fn remove_stubs(upper: &Path, stubs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut sorted: Vec<&PathBuf> = stubs.iter().collect();
    sorted.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    let mut parents = Vec::new();
    for rel in sorted {
        let p = upper.join(rel);
        let Ok(m) = fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() && fs::read_dir(&p).is_ok_and(|mut r| r.next().is_none()) {
            fs::remove_dir(&p).map_err(io_err(&p))?;
        } else if m.is_file() && m.len() == 0 {
            fs::remove_file(&p).map_err(io_err(&p))?;
        } else {
            continue;
        }
        let mut a = rel.parent();
        while let Some(d) = a.filter(|d| !d.as_os_str().is_empty()) {
            if !stubs.iter().any(|s| s == d) && !parents.iter().any(|q: &PathBuf| q == d) {
                parents.push(d.to_path_buf());
            }
            a = d.parent();
        }
    }
    parents.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    Ok(parents)
}

/// Removes from `upper` the mount points' parents the union fs copied up
/// without changing them (empty, not opaque, same mode and owner as below):
/// they would only add a directory entry to the layer. `more`: further such
/// directories (parents of removed mount stubs), deepest first.
fn drop_copied_up_parents(upper: &Path, lowerdirs: &[PathBuf], more: &[PathBuf]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let fixed = ["etc", "dev", "proc", "sys"].map(PathBuf::from);
    for d in more.iter().chain(fixed.iter()) {
        let p = upper.join(d);
        let Ok(m) = fs::symlink_metadata(&p) else {
            continue;
        };
        let empty = m.is_dir() && fs::read_dir(&p).is_ok_and(|mut r| r.next().is_none());
        let opaque = crate::store::sys::get_xattr(&p, "trusted.overlay.opaque".as_ref())
            .map_err(io_err(&p))?
            .is_some();
        let same = lookup(lowerdirs, d).is_some_and(|(_, l)| {
            l.is_dir() && (l.mode(), l.uid(), l.gid()) == (m.mode(), m.uid(), m.gid())
        });
        if empty && !opaque && same {
            fs::remove_dir(&p).map_err(io_err(&p))?;
        }
    }
    Ok(())
}
