//! Heredocs of RUN and COPY/ADD, with BuildKit's semantics
//! (`dockerfile2llb` `dispatchRun` / `dispatchCopy`):
//!
//! - `RUN <<EOF` alone: the body is the script. With a `#!` first line it is
//!   written to `/dev/pipes/EOF` (mode 0755, a read-only mount that never
//!   reaches the layer) and run through the shell as a path; otherwise the
//!   body itself is the shell's command string.
//! - Any other command with heredocs (`RUN python3 <<EOF`, `RUN <<EOF bash`,
//!   several heredocs, `3<<EOF`): the command line and every body with its
//!   terminator are joined back into one shell script, so the shell feeds
//!   the bodies as stdin (or the given fd) and decides on expansion itself
//!   (a quoted delimiter is not expanded; `<<-` bodies arrive tab-stripped).
//! - `COPY <<EOF /dest`: a file named after the delimiter with the body
//!   (expanded by the parser unless the delimiter was quoted), mode 0644
//!   unless `--chmod`.
//!
//! Bodies are part of the step's cache key: RUN adds them as `<<NAME`
//! inputs, COPY as sources named `<<NAME`.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::cache::FileInput;
use super::config::argv;
use super::context::{Context, Source};
use super::error::{Result, io_err, step_err};
use super::fsutil::set_meta;
use crate::dockerfile::{CommandLine, Heredoc, Run};
use crate::store::RunConfig;

/// Where a `#!` heredoc script is mounted in the container.
pub const PIPES_DIR: &str = "/dev/pipes";

/// The argv of a RUN, and the script file to mount when the heredoc has a
/// shebang (file name, body).
pub struct RunCommand {
    pub args: Vec<String>,
    pub script: Option<(String, String)>,
}

/// A heredoc delimiter used as a file name must be one path component.
fn file_name(h: &Heredoc, line: usize) -> Result<&str> {
    let n = h.name.as_str();
    if n.is_empty() || n == "." || n == ".." || n.contains('/') || n.contains('\0') {
        return Err(step_err(
            line,
            format!("heredoc delimiter {n:?} cannot be used as a file name"),
        ));
    }
    Ok(n)
}

/// The command RUN executes (see the module comment).
pub fn run_command(cfg: &RunConfig, r: &Run, line: usize) -> Result<RunCommand> {
    if r.heredocs.is_empty() {
        return Ok(RunCommand {
            args: argv(cfg, &r.command),
            script: None,
        });
    }
    let CommandLine::Shell(cmd) = &r.command else {
        return Err(step_err(
            line,
            "RUN heredocs need the shell form (not a JSON array)",
        ));
    };
    let alone = matches!(
        crate::dockerfile::parse_heredoc_word(cmd.trim()),
        Ok(Some(_))
    );
    if alone {
        let h = &r.heredocs[0];
        if h.content.starts_with("#!") {
            let name = file_name(h, line)?.to_string();
            let path = format!("{PIPES_DIR}/{name}");
            return Ok(RunCommand {
                args: argv(cfg, &CommandLine::Shell(path)),
                script: Some((name, h.content.clone())),
            });
        }
        return Ok(RunCommand {
            args: argv(cfg, &CommandLine::Shell(h.content.clone())),
            script: None,
        });
    }
    let mut full = cmd.clone();
    for h in &r.heredocs {
        full.push('\n');
        full.push_str(&h.content);
        full.push_str(&h.name);
    }
    Ok(RunCommand {
        args: argv(cfg, &CommandLine::Shell(full)),
        script: None,
    })
}

/// `sha256:<hex>` of a body.
fn digest(s: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(s.as_bytes())))
}

/// The cache inputs of RUN heredocs: one `<<NAME` entry per body.
pub fn run_inputs(r: &Run) -> Vec<FileInput> {
    r.heredocs
        .iter()
        .enumerate()
        .map(|(i, h)| FileInput {
            // Two heredocs may share a delimiter: keep both in the key.
            path: if r.heredocs[..i].iter().any(|o| o.name == h.name) {
                format!("<<{}#{i}", h.name)
            } else {
                format!("<<{}", h.name)
            },
            mode: None,
            uid: None,
            gid: None,
            digest: digest(&h.content),
        })
        .collect()
}

/// Writes the script of a `#!` heredoc into `dir` (mode 0755), the host
/// directory mounted read-only at [`PIPES_DIR`].
pub fn write_script(dir: &Path, name: &str, body: &str) -> Result<()> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let p = dir.join(name);
    fs::write(&p, body).map_err(io_err(&p))?;
    set_meta(&p, 0o755, 0, 0, None)
}

/// Writes COPY/ADD heredoc bodies as files into the empty dir `dir` and
/// returns them as sources (their entries named `<<NAME` for the key).
pub fn copy_sources(dir: &Path, heredocs: &[Heredoc], line: usize) -> Result<Vec<Source>> {
    let mut names: Vec<PathBuf> = Vec::new();
    for h in heredocs {
        let name = file_name(h, line)?;
        let p = dir.join(name);
        fs::write(&p, &h.content).map_err(io_err(&p))?;
        set_meta(&p, 0o644, 0, 0, None)?;
        names.push(PathBuf::from(name));
    }
    let ctx = Context::open_plain(dir)?;
    let raw: Vec<String> = names.iter().map(|n| n.display().to_string()).collect();
    let mut sources = ctx.sources(&raw, line)?;
    for s in &mut sources {
        for e in &mut s.entries {
            e.rel = format!("<<{}", e.rel);
        }
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heredoc(name: &str, content: &str) -> Heredoc {
        Heredoc {
            name: name.into(),
            fd: None,
            expand: true,
            chomp: false,
            content: content.into(),
        }
    }

    fn run(cmd: &str, docs: Vec<Heredoc>) -> Run {
        Run {
            command: CommandLine::Shell(cmd.into()),
            heredocs: docs,
            mounts: Vec::new(),
            network: None,
            security: None,
        }
    }

    #[test]
    fn single_heredoc_is_the_script() {
        let cfg = RunConfig::default();
        let c = run_command(
            &cfg,
            &run("<<EOF", vec![heredoc("EOF", "echo a\necho b\n")]),
            1,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.args, ["/bin/sh", "-c", "echo a\necho b\n"]);
        assert!(c.script.is_none());
    }

    #[test]
    fn shebang_heredoc_becomes_a_file() {
        let cfg = RunConfig::default();
        let c = run_command(
            &cfg,
            &run("<<EOT", vec![heredoc("EOT", "#!/bin/ash\nid\n")]),
            1,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.args, ["/bin/sh", "-c", "/dev/pipes/EOT"]);
        assert_eq!(c.script, Some(("EOT".into(), "#!/bin/ash\nid\n".into())));
    }

    #[test]
    fn other_commands_get_the_script_reassembled() {
        let cfg = RunConfig::default();
        let r = run(
            "cat <<A >a && cat <<'B' >b",
            vec![heredoc("A", "1\n"), heredoc("B", "$x\n")],
        );
        let c = run_command(&cfg, &r, 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.args[2], "cat <<A >a && cat <<'B' >b\n1\nA\n$x\nB");
        let keys = run_inputs(&r);
        assert_eq!(keys[0].path, "<<A");
        assert_ne!(keys[0].digest, keys[1].digest);
    }

    #[test]
    fn exec_form_with_heredoc_is_refused() {
        let mut r = run("", vec![heredoc("EOF", "x\n")]);
        r.command = CommandLine::Exec(vec!["<<EOF".into()]);
        assert!(run_command(&RunConfig::default(), &r, 3).is_err());
    }
}
