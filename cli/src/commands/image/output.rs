//! Where `image save` and `image export` write: a file (staged beside it
//! and renamed, so a failure leaves no half archive) or STDOUT (never a
//! terminal, like Docker).

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, bail};

pub fn write_archive(
    output: Option<&Path>,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match output {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("cannot write in {}", dir.display()))?;
            let mut out = std::io::BufWriter::new(tmp.as_file_mut());
            write(&mut out)?;
            out.flush()
                .with_context(|| format!("writing {}", path.display()))?;
            drop(out);
            tmp.persist(path)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let mut out = std::io::BufWriter::new(stdout.lock());
            write(&mut out)?;
            out.flush().context("writing to stdout")?;
        }
    }
    Ok(())
}
