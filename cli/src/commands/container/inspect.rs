//! `strata container inspect CONTAINER...`: Docker's main fields as JSON.

use std::io::Write;
use std::path::Path;

use builder::container::{Containers, Record, State};
use builder::store::time::format_rfc3339;
use serde_json::{Value, json};

use crate::commands::context::open_store;
use crate::commands::format::InspectFormat;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format: `json` (the only one; the output is JSON anyway).
    #[arg(short, long, value_enum)]
    pub format: Option<InspectFormat>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let store = open_store(root)?;
    let containers = Containers::new(&store);
    let mut out = Vec::new();
    for name in &args.containers {
        let mut record = containers.resolve(name)?;
        containers.reap_dead(&mut record)?;
        let image = store.resolve_image(&record.image_id)?;
        let lowers: Vec<String> = store
            .image_lowerdirs(&image)?
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        out.push(document(&containers, &record, &lowers.join(":")));
    }
    let text = serde_json::to_string_pretty(&Value::Array(out))?;
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = writeln!(std::io::stdout().lock(), "{text}");
    Ok(0)
}

fn document(containers: &Containers<'_>, r: &Record, lowerdir: &str) -> Value {
    let c = &r.config;
    let time = |t: Option<i64>| t.map_or("0001-01-01T00:00:00Z".to_string(), format_rfc3339);
    let path = |p: std::path::PathBuf| p.display().to_string();
    json!({
        "Id": r.id,
        "Created": format_rfc3339(r.created),
        "Path": c.process.args.first(),
        "Args": c.process.args.get(1..).unwrap_or_default(),
        "State": {
            "Status": r.state.as_str(),
            "Running": r.state == State::Running,
            "Paused": false,
            "Pid": r.pid.unwrap_or(0),
            "ExitCode": r.exit_code.unwrap_or(0),
            "StartedAt": time(c.started),
            "FinishedAt": time(c.finished),
        },
        "Image": format!("sha256:{}", r.image_id.trim_start_matches("sha256:")),
        "LogPath": path(containers.log_path(&r.id)),
        "Name": format!("/{}", r.name),
        "HostConfig": {
            "NetworkMode": match c.network {
                builder::runtime::NetworkMode::Host => "host",
                builder::runtime::NetworkMode::None => "none",
            },
            "Binds": c.mounts.iter().map(|m| format!(
                "{}:{}{}", m.source.display(), m.destination, if m.readonly { ":ro" } else { "" }
            )).collect::<Vec<_>>(),
        },
        "GraphDriver": {
            "Name": "strata",
            "Data": {
                "LowerDir": lowerdir,
                "UpperDir": path(containers.upper(&r.id)),
                "WorkDir": path(containers.work(&r.id)),
                "MergedDir": path(containers.merged(&r.id)),
            },
        },
        "Config": {
            "Hostname": c.hostname,
            "User": c.process.user,
            "Tty": c.process.tty,
            "OpenStdin": c.process.stdin,
            "Env": c.process.env,
            "Cmd": c.cmd,
            "Entrypoint": if c.entrypoint.is_empty() { Value::Null } else { json!(c.entrypoint) },
            "Image": c.image,
            "WorkingDir": c.process.cwd,
            "StopSignal": c.process.stop_signal,
        },
    })
}
