//! `strata system df`: TYPE TOTAL ACTIVE SIZE RECLAIMABLE, as Docker.

use std::path::Path;

use crate::commands::context::open_store;
use crate::commands::format::{Format, human_size, print_json_lines, print_table};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format: `table` or `json` (one object per line).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let store = open_store(root)?;
    let u = store.disk_usage()?;
    let pct = |part: u64, whole: u64| {
        (part * 100)
            .checked_div(whole)
            .map_or(String::new(), |p| format!(" ({p}%)"))
    };
    let containers_reclaimable = if u.containers > u.running_containers {
        u.containers_size
    } else {
        0
    };
    let header = ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"];
    let rows = [
        vec![
            "Images".into(),
            u.images.to_string(),
            u.active_images.to_string(),
            human_size(u.layers_size),
            format!(
                "{}{}",
                human_size(u.reclaimable),
                pct(u.reclaimable, u.layers_size)
            ),
        ],
        vec![
            "Containers".into(),
            u.containers.to_string(),
            u.running_containers.to_string(),
            human_size(u.containers_size),
            human_size(containers_reclaimable),
        ],
    ];
    if args.format == Format::Json {
        // Docker's keys for the same columns.
        let keys = ["Type", "TotalCount", "Active", "Size", "Reclaimable"];
        let values: Vec<serde_json::Value> = rows
            .iter()
            .map(|row| {
                serde_json::Value::Object(
                    keys.iter()
                        .zip(row)
                        .map(|(k, v)| (k.to_string(), v.clone().into()))
                        .collect(),
                )
            })
            .collect();
        print_json_lines(&values);
    } else {
        print_table(&header, &rows);
    }
    Ok(0)
}
