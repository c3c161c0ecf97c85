//! `strata system df`: TYPE TOTAL ACTIVE SIZE RECLAIMABLE, as Docker.

use std::path::Path;

use crate::commands::context::open_store;
use crate::commands::format::{human_size, print_table};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(root: &Path, _args: Args) -> anyhow::Result<i32> {
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
    print_table(
        &["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        &[
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
        ],
    );
    Ok(0)
}
