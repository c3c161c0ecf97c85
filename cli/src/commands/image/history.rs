//! `strata image history IMAGE`: IMAGE CREATED CREATED BY SIZE COMMENT,
//! newest step first, as Docker.

use std::path::Path;

use builder::store::time::parse_rfc3339;

use crate::commands::context::open_store;
use crate::commands::format::{Format, ago, ellipsis, human_size, print_json_lines, print_table};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format: `table` or `json` (one object per line).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Image (name[:tag], id or id prefix).
    pub image: String,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let store = open_store(root)?;
    let image = store.resolve_image(&args.image)?;
    let layers = image.layers()?;
    // Pair each non-empty step with its layer, bottom up.
    let mut next_layer = layers.iter();
    let mut steps = Vec::new();
    for h in &image.config.history {
        let size = if h.empty_layer {
            0
        } else {
            match next_layer.next() {
                Some(d) => store.layer(d).map(|l| l.size).unwrap_or(0),
                None => 0,
            }
        };
        steps.push((h, size));
    }
    // Ids: the image for the newest step, then its parents (local builds
    // record one image per step); `<missing>` beyond, like Docker.
    let mut ids = Vec::new();
    let mut cur = Some(image.clone());
    while let Some(img) = cur {
        ids.push(img.id.clone());
        cur = match &img.parent {
            Some(p) => store.image(p).ok(),
            None => None,
        };
    }
    let mut rows = Vec::new();
    let mut json = Vec::new();
    for (i, (h, size)) in steps.iter().rev().enumerate() {
        let id = ids.get(i).map_or("<missing>".to_string(), |d| {
            if args.no_trunc {
                d.to_string()
            } else {
                d.short().to_string()
            }
        });
        if args.quiet {
            println!("{id}");
            continue;
        }
        let created = h
            .created
            .as_deref()
            .and_then(parse_rfc3339)
            .map_or(String::new(), ago);
        let by = h.created_by.clone().unwrap_or_default();
        let by = if args.no_trunc { by } else { ellipsis(&by, 45) };
        if args.format == Format::Json {
            json.push(serde_json::json!({
                "Comment": h.comment.clone().unwrap_or_default(),
                "CreatedAt": h.created.clone().unwrap_or_default(),
                "CreatedBy": by,
                "CreatedSince": created,
                "ID": id,
                "Size": human_size(*size),
            }));
            continue;
        }
        rows.push(vec![
            id,
            created,
            by,
            human_size(*size),
            h.comment.clone().unwrap_or_default(),
        ]);
    }
    if args.format == Format::Json {
        print_json_lines(&json);
    } else if !args.quiet {
        print_table(
            &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
            &rows,
        );
    }
    Ok(0)
}
