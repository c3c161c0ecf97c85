//! `strata image inspect IMAGE...`: a JSON array shaped like Docker's.

use std::path::Path;

use builder::store::{Image, Store, time::format_rfc3339};
use serde_json::{Value, json};

use crate::commands::context::open_store;
use crate::commands::format::InspectFormat;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format: `json` (the only one; the output is JSON anyway).
    #[arg(short, long, value_enum)]
    pub format: Option<InspectFormat>,
    /// Images (name[:tag], id or id prefix).
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let store = open_store(root)?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for name in &args.images {
        match store.resolve_image(name) {
            Ok(image) => out.push(describe(&store, &image)?),
            Err(e) => errors.push(e),
        }
    }
    println!("{}", serde_json::to_string_pretty(&Value::Array(out))?);
    let code = if errors.is_empty() { 0 } else { 1 };
    for e in errors {
        eprintln!(
            "{}",
            crate::commands::report::error_line(&anyhow::Error::new(e), root)
        );
    }
    Ok(code)
}

fn describe(store: &Store, image: &Image) -> anyhow::Result<Value> {
    let c = &image.config;
    let lower: Vec<String> = store
        .image_lowerdirs(image)?
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    Ok(json!({
        "Id": image.id.to_string(),
        "RepoTags": image.repo_tags,
        "RepoDigests": image.repo_digests,
        "Parent": image.parent.as_ref().map(|p| p.to_string()).unwrap_or_default(),
        "Comment": c.history.last().and_then(|h| h.comment.clone()).unwrap_or_default(),
        "Created": c.created.clone().unwrap_or_else(|| format_rfc3339(image.created)),
        "Author": c.author.clone().unwrap_or_default(),
        "Config": serde_json::to_value(&c.config)?,
        "Architecture": c.architecture,
        "Os": c.os,
        "Size": image.size,
        "GraphDriver": {
            "Name": "strata",
            "Data": { "LowerDir": lower.join(":") }
        },
        "RootFS": {
            "Type": c.rootfs.kind,
            "Layers": c.rootfs.diff_ids,
        },
        "Metadata": { "LastTagTime": "0001-01-01T00:00:00Z" }
    }))
}
