//! `strata image rm [-f] IMAGE...`: untag, and delete what no longer has a
//! name, as `docker image rm`.

use std::path::Path;

use builder::store::Removed;

use crate::commands::context::open_store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Force removal of an image used by a stopped container or tagged in
    /// several repositories.
    #[arg(short, long)]
    pub force: bool,
    /// Images (name[:tag], id or id prefix).
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let store = open_store(root)?;
    let mut code = 0;
    for image in &args.images {
        match store.remove_image(image, args.force) {
            Ok(lines) => {
                for line in lines {
                    match line {
                        Removed::Untagged(t) => println!("Untagged: {t}"),
                        Removed::Deleted(id) => println!("Deleted: {id}"),
                    }
                }
            }
            Err(e) => {
                eprintln!(
                    "{}",
                    crate::commands::report::error_line(&anyhow::Error::new(e), root)
                );
                code = 1;
            }
        }
    }
    Ok(code)
}
