//! `strata system check [--repair]`: verify every layer and the catalog.
//! Exits 1 while problems remain.

use std::path::Path;

use crate::commands::context::open_store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Remove leftovers of interrupted operations (staging of dead
    /// processes, layer files without a catalog row).
    #[arg(long)]
    pub repair: bool,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let store = open_store(root)?;
    let report = store.check(args.repair)?;
    for p in &report.problems {
        let state = if p.repaired { "repaired" } else { "problem" };
        println!("{state}: {}", p.what);
    }
    println!(
        "{} layers and {} images verified, {} problems, {} repaired",
        report.layers_verified,
        report.images_verified,
        report.problems.len(),
        report.problems.iter().filter(|p| p.repaired).count()
    );
    Ok(if report.is_clean() { 0 } else { 1 })
}
