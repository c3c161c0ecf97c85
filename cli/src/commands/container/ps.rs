//! `strata container ps [-a] [-q]`

use std::path::Path;

use builder::container::{Containers, Record, State};
use builder::store::time::{format_rfc3339, now_unix};

use crate::commands::context::open_store;
use crate::commands::format::{
    Format, ago, ellipsis, human_duration, print_json_lines, print_table,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Output format: `table` or `json` (one object per line).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let store = open_store(root)?;
    let containers = Containers::new(&store);
    let list: Vec<Record> = containers
        .list()?
        .into_iter()
        .filter(|r| args.all || r.state == State::Running)
        .collect();
    let id = |r: &Record| {
        if args.no_trunc {
            r.id.clone()
        } else {
            r.short_id().to_string()
        }
    };
    if args.quiet {
        for r in &list {
            println!("{}", id(r));
        }
        return Ok(0);
    }
    let now = now_unix();
    if args.format == Format::Json {
        let values: Vec<serde_json::Value> = list
            .iter()
            .map(|r| {
                serde_json::json!({
                    "Command": command(r, args.no_trunc),
                    "CreatedAt": format_rfc3339(r.created),
                    "ID": id(r),
                    "Image": r.config.image,
                    "Names": r.name,
                    "RunningFor": ago(r.created),
                    "State": r.state.as_str(),
                    "Status": status(r, now),
                })
            })
            .collect();
        print_json_lines(&values);
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|r| {
            vec![
                id(r),
                r.config.image.clone(),
                command(r, args.no_trunc),
                ago(r.created),
                status(r, now),
                r.name.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "NAMES",
        ],
        &rows,
    );
    Ok(0)
}

/// Docker's `"sh -c 'echo…"`: quoted, cut to 20 characters.
fn command(r: &Record, no_trunc: bool) -> String {
    let full = r.config.process.args.join(" ");
    let cut = if no_trunc { full } else { ellipsis(&full, 20) };
    format!("\"{cut}\"")
}

/// Docker's status words.
fn status(r: &Record, now: i64) -> String {
    match r.state {
        State::Created => "Created".to_string(),
        State::Running => format!(
            "Up {}",
            human_duration(now - r.config.started.unwrap_or(r.created))
        ),
        State::Exited => format!(
            "Exited ({}) {} ago",
            r.exit_code.unwrap_or(0),
            human_duration(now - r.config.finished.unwrap_or(r.created))
        ),
    }
}
