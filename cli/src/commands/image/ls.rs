//! `strata image ls`: REPOSITORY TAG IMAGE ID CREATED SIZE, as Docker.

use std::path::Path;

use builder::store::{Image, Reference, time::format_rfc3339};

use crate::commands::context::open_store;
use crate::commands::format::{ago, human_size, print_table};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show all images (also intermediate images of builds).
    #[arg(short, long)]
    pub all: bool,
    /// Only show image ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show digests.
    #[arg(long)]
    pub digests: bool,
    /// Show full image ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// Output format: `table` (default) or `json` (one object per line).
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Only images of this repository (and tag).
    pub repository: Option<String>,
}

/// One line of the listing.
struct Row {
    repository: String,
    tag: String,
    digest: String,
    image: Image,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    if !matches!(args.format.as_str(), "table" | "json") {
        anyhow::bail!("unsupported --format {:?} (use table or json)", args.format);
    }
    let filter = args
        .repository
        .as_deref()
        .map(Reference::parse)
        .transpose()?;
    let store = open_store(root)?;
    let mut rows = Vec::new();
    for image in store.images()? {
        let intermediate = image.repo_tags.is_empty() && !store.children(&image.id)?.is_empty();
        if intermediate && !args.all {
            continue;
        }
        let digest = image
            .repo_digests
            .first()
            .and_then(|d| d.rsplit_once('@'))
            .map_or("<none>".to_string(), |(_, d)| d.to_string());
        if image.repo_tags.is_empty() {
            if filter.is_none() {
                rows.push(Row {
                    repository: "<none>".into(),
                    tag: "<none>".into(),
                    digest,
                    image,
                });
            }
            continue;
        }
        for t in &image.repo_tags {
            let r = Reference::parse(t)?;
            let excluded = filter.as_ref().is_some_and(|f| {
                f.full_name() != r.full_name() || f.tag().is_some_and(|ft| Some(ft) != r.tag())
            });
            if excluded {
                continue;
            }
            rows.push(Row {
                repository: r.familiar_name(),
                tag: r.tag().unwrap_or("<none>").to_string(),
                digest: digest.clone(),
                image: image.clone(),
            });
        }
    }
    let id = |img: &Image| {
        if args.no_trunc {
            img.id.to_string()
        } else {
            img.id.short().to_string()
        }
    };
    if args.quiet {
        let mut seen = std::collections::HashSet::new();
        for row in &rows {
            if seen.insert(row.image.id.clone()) {
                println!("{}", id(&row.image));
            }
        }
        return Ok(0);
    }
    if args.format == "json" {
        for row in &rows {
            let size = human_size(row.image.size);
            let v = serde_json::json!({
                "Containers": "N/A",
                "CreatedAt": format_rfc3339(row.image.created),
                "CreatedSince": ago(row.image.created),
                "Digest": row.digest,
                "ID": id(&row.image),
                "Repository": row.repository,
                "SharedSize": "N/A",
                "Size": size,
                "Tag": row.tag,
                "UniqueSize": "N/A",
                "VirtualSize": size,
            });
            println!("{v}");
        }
        return Ok(0);
    }
    let mut header = vec!["REPOSITORY", "TAG"];
    if args.digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![r.repository.clone(), r.tag.clone()];
            if args.digests {
                cells.push(r.digest.clone());
            }
            cells.extend([id(&r.image), ago(r.image.created), human_size(r.image.size)]);
            cells
        })
        .collect();
    print_table(&header, &table);
    Ok(0)
}
