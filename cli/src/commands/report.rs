//! How a failure reads: one line, `Error: WHAT: WHY`, plus the obvious next
//! step where there is one (an unknown image: how to list or get images; a
//! full disk: said first, with the command that hit it).

use clap::CommandFactory;

/// The line printed for `err` (`root`: the store, to tell a full disk behind
/// SQLite's bare "disk I/O error").
pub fn error_line(err: &anyhow::Error, root: &std::path::Path) -> String {
    let mut line = format!("Error: {}", error_text(err, root));
    if let Some(hint) = hint(err) {
        line.push_str(&format!(" ({hint})"));
    }
    line
}

/// The error and its causes joined by ": ", leaving out a cause the text
/// already ends with (errors whose message includes their source would
/// otherwise print it twice). When the failure is the disk being full, the
/// line says so first and names the command, whatever layer hit it: users
/// must not have to recognise ENOSPC behind a path or an exit code.
fn error_text(err: &anyhow::Error, root: &std::path::Path) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let s = cause.to_string();
        if text.is_empty() {
            text = s;
        } else if !text.ends_with(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
    }
    let lower = text.to_lowercase();
    // SQLite reports a full disk under some of its locks (the WAL index) as
    // a plain "disk I/O error": then the store's filesystem tells.
    let io_failure = lower.contains("i/o error") || lower.contains("input/output error");
    if is_disk_full(err, &text) || (io_failure && builder::store::Layout::new(root).is_full()) {
        format!("{}: no space left on device: {text}", operation())
    } else {
        text
    }
}

/// ENOSPC/EDQUOT anywhere in the chain, or their text where a library
/// flattened the error into a message (tar, SQLite's SQLITE_FULL, a RUN
/// that failed on a full store).
fn is_disk_full(err: &anyhow::Error, text: &str) -> bool {
    let typed = err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|e| {
            matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
                || matches!(
                    e.kind(),
                    std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
                )
        })
    });
    let lower = text.to_lowercase();
    typed
        || [
            "no space left on device",
            "database or disk is full",
            "disk quota exceeded",
        ]
        .iter()
        .any(|m| lower.contains(m))
}

/// The command that ran, as typed without its arguments: `image build`.
fn operation() -> String {
    let Ok(matches) = super::Cli::command().try_get_matches_from(std::env::args_os()) else {
        return "strata".to_string();
    };
    let mut names = Vec::new();
    let mut m = &matches;
    while let Some((name, sub)) = m.subcommand() {
        names.push(name.to_string());
        m = sub;
    }
    if names.is_empty() {
        "strata".to_string()
    } else {
        names.join(" ")
    }
}

/// The fix for well-known failures anywhere in the error's chain.
fn hint(err: &anyhow::Error) -> Option<String> {
    use builder::container::ContainerError;
    use builder::store::Error as StoreError;
    err.chain().find_map(|cause| {
        if let Some(StoreError::NoSuchImage(name)) = cause.downcast_ref::<StoreError>() {
            return Some(format!(
                "`strata image ls` lists the images here; `strata image pull {name}` fetches it from a registry, `strata image bootstrap debian:bookworm` makes a Debian base"
            ));
        }
        if let Some(ContainerError::NoSuchContainer(_)) = cause.downcast_ref::<ContainerError>() {
            return Some("`strata container ps -a` lists the containers".to_string());
        }
        None
    })
}
