//! Reading the commands out of README.md and examples/: every line of a
//! ```sh (or bash/shell) block is a command (blank lines and `#` comments
//! aside; a trailing `\` joins the next line). A command followed by
//! `# manual: REASON` is one the docs test cannot run, and REASON says why;
//! a block without a language is an error, so no command hides in one.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The marker of a command the test cannot run.
pub const MANUAL: &str = "# manual:";

/// One command shown in a document.
#[derive(Debug, Clone, PartialEq)]
pub struct DocCommand {
    /// Document and line of the command's first line (`README.md:42`).
    pub at: String,
    pub text: String,
    /// `Some(reason)` when marked `# manual: reason`.
    pub manual: Option<String>,
}

/// A fenced block of another language (```dockerfile ...), with its text.
#[derive(Debug, Clone, PartialEq)]
pub struct DocBlock {
    pub at: String,
    pub lang: String,
    pub text: String,
}

const SHELL: [&str; 3] = ["sh", "bash", "shell"];

/// The commands and the non-shell blocks of `markdown` (named `name` in
/// messages), or what is wrong with it.
pub fn extract(name: &str, markdown: &str) -> Result<(Vec<DocCommand>, Vec<DocBlock>), String> {
    let mut commands = Vec::new();
    let mut blocks = Vec::new();
    // (language, line of the fence, text) of the open block.
    let mut open: Option<(String, usize, String)> = None;
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in markdown.lines().enumerate() {
        let lineno = i + 1;
        let trimmed = raw.trim();
        if let Some(lang) = trimmed.strip_prefix("```") {
            match open.take() {
                None if lang.trim().is_empty() => {
                    return Err(format!(
                        "{name}:{lineno}: code block without a language: say `sh` for commands, `text` for anything else"
                    ));
                }
                None => open = Some((lang.trim().to_string(), lineno, String::new())),
                Some((lang, start, text)) => {
                    if let Some((at, _)) = pending.take() {
                        return Err(format!(
                            "{name}:{at}: `\\` continues past the end of the block"
                        ));
                    }
                    if !SHELL.contains(&lang.as_str()) {
                        blocks.push(DocBlock {
                            at: format!("{name}:{start}"),
                            lang,
                            text,
                        });
                    }
                }
            }
            continue;
        }
        let Some((lang, _, text)) = open.as_mut() else {
            continue;
        };
        if !SHELL.contains(&lang.as_str()) {
            text.push_str(raw);
            text.push('\n');
            continue;
        }
        let (start, line) = match pending.take() {
            Some((at, so_far)) => (at, so_far + "\n" + raw),
            None if trimmed.is_empty() || trimmed.starts_with('#') => continue,
            None => (lineno, trimmed.to_string()),
        };
        // The `\` stays: bash joins the lines, as a reader's shell would.
        if line.ends_with('\\') {
            pending = Some((start, line));
            continue;
        }
        commands.push(command(name, start, &line)?);
    }
    if let Some((_, at, _)) = open {
        return Err(format!("{name}:{at}: code block never closed"));
    }
    Ok((commands, blocks))
}

fn command(name: &str, line: usize, text: &str) -> Result<DocCommand, String> {
    let at = format!("{name}:{line}");
    let (text, manual) = match text.split_once(MANUAL) {
        Some((cmd, reason)) => {
            let reason = reason.trim();
            if reason.is_empty() {
                return Err(format!("{at}: `{MANUAL}` needs a reason"));
            }
            (cmd.trim_end(), Some(reason.to_string()))
        }
        None => (text, None),
    };
    Ok(DocCommand {
        at,
        text: text.to_string(),
        manual,
    })
}

/// Every `*.sh` under `dir` (recursively), sorted.
pub fn scripts(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read examples dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "sh") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The scripts (named by their path under the examples dir, e.g.
/// `commit/run.sh`) that no command runs: a script counts as run when a
/// runnable command names it, or a script that counts as run does.
pub fn unrun_scripts(commands: &[DocCommand], scripts: &[(String, String)]) -> Vec<String> {
    let mut texts: Vec<String> = commands
        .iter()
        .filter(|c| c.manual.is_none())
        .map(|c| c.text.clone())
        .collect();
    let mut left: Vec<&(String, String)> = scripts.iter().collect();
    loop {
        let before = left.len();
        let (run, rest): (Vec<_>, Vec<_>) = left
            .into_iter()
            .partition(|(name, _)| texts.iter().any(|t| t.contains(name.as_str())));
        texts.extend(run.iter().map(|(_, body)| body.clone()));
        left = rest;
        if left.len() == before {
            return left.into_iter().map(|(n, _)| n.clone()).collect();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn commands_comments_continuations_and_markers() {
        let md = "text\n```sh\n# a comment\nstrata image ls\n\nstrata image build \\\n  -t x .\n\
                  strata run -it x   # manual: needs a terminal\n```\n```dockerfile\nFROM x\n```\n";
        let (cmds, blocks) = extract("R.md", md).unwrap();
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0].at, "R.md:4");
        assert_eq!(cmds[1].text, "strata image build \\\n  -t x .");
        assert_eq!(cmds[1].at, "R.md:6");
        assert_eq!(cmds[2].text, "strata run -it x");
        assert_eq!(cmds[2].manual.as_deref(), Some("needs a terminal"));
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].text, "FROM x\n");
    }

    #[test]
    fn unmarked_or_unlabelled_things_are_errors() {
        assert!(extract("R.md", "```\nstrata image ls\n```\n").is_err());
        assert!(extract("R.md", "```sh\nstrata x  # manual:\n```\n").is_err());
        assert!(extract("R.md", "```sh\nstrata x\n").is_err());
    }

    #[test]
    fn scripts_run_directly_or_through_another_script() {
        let cmd = |t: &str| DocCommand {
            at: "R.md:1".into(),
            text: t.into(),
            manual: None,
        };
        let scripts = vec![
            ("base.sh".to_string(), "strata image bootstrap".to_string()),
            ("a/run.sh".to_string(), "../base.sh".to_string()),
            ("b/run.sh".to_string(), "true".to_string()),
        ];
        let unrun = unrun_scripts(&[cmd("examples/a/run.sh")], &scripts);
        assert_eq!(unrun, vec!["b/run.sh".to_string()]);
    }
}
