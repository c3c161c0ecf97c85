//! RUN: a container on the union mount of the image's layers plus a fresh
//! upper directory; the upper becomes the step's layer.

use std::collections::VecDeque;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use super::Event;
use super::error::{BuildError, Result, io_err};
use super::fsutil::{Scratch, lookup};
use crate::runtime::{ContainerSpec, NetworkMode, ProcessSpec, Runtime, Stdio};
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
}

/// Files and dirs the runtime creates as mount points when the image lacks
/// them; Docker keeps them out of layers (its init layer), so do we, when
/// they are still empty.
const MOUNT_POINT_FILES: [&str; 3] = ["etc/hosts", "etc/hostname", "etc/resolv.conf"];
const MOUNT_POINT_DIRS: [&str; 5] = ["dev", "proc", "sys", "etc", "run"];

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
    let dirs = ["upper", "work", "merged", "state", "empty"].map(|d| scratch.0.join(d));
    for d in &dirs {
        fs::create_dir(d).map_err(io_err(d))?;
    }
    let [upper, work, merged, state, empty] = dirs;
    let mut lowers = lowerdirs.to_vec();
    if lowers.is_empty() {
        // FROM scratch: the union needs one lower layer.
        lowers.push(empty);
    }
    let config = overlayfs::Config {
        lowerdirs: lowers,
        upperdir: Some(upper.clone()),
        workdir: Some(work),
        skip_whiteout_check: true,
        ..Default::default()
    };
    let mount = overlayfs::mount(config, &merged).map_err(|source| BuildError::Mount {
        line: step.line,
        source,
    })?;
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
        });
    }
    drop_mount_points(&upper, lowerdirs)?;
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
    let status = container.wait().map_err(rt_err)?;
    Ok((status.exit_code(), tail))
}

/// Removes the empty mount points the runtime made in `upper` for things
/// the image lacks.
fn drop_mount_points(upper: &Path, lowerdirs: &[PathBuf]) -> Result<()> {
    for f in MOUNT_POINT_FILES {
        let p = upper.join(f);
        if let Ok(m) = fs::symlink_metadata(&p)
            && m.is_file()
            && m.len() == 0
            && lookup(lowerdirs, Path::new(f)).is_none()
        {
            fs::remove_file(&p).map_err(io_err(&p))?;
        }
    }
    for d in MOUNT_POINT_DIRS {
        let p = upper.join(d);
        let empty = fs::read_dir(&p).is_ok_and(|mut r| r.next().is_none());
        if empty && lookup(lowerdirs, Path::new(d)).is_none() {
            fs::remove_dir(&p).map_err(io_err(&p))?;
        }
    }
    Ok(())
}
