//! The per-instruction cache, in the catalog's `build_cache` table.
//!
//! A step's key is the sha256 of its [`Inputs`] (parent image, expanded
//! instruction, build args in scope, and for COPY/ADD every source file's
//! path, mode, owner and content digest — never its mtime). The inputs are
//! stored with the key, so a miss is explained by comparing them with the
//! latest row built on the same parent.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::error::Result;
use crate::store::{Digest, ImageId, Store, time::now_unix};

/// Everything that determines a step's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// Parent image id, or `scratch`.
    pub parent: String,
    /// The instruction after expansion.
    pub instruction: String,
    /// Build args in scope (`NAME=value`).
    pub args: Vec<(String, String)>,
    /// COPY/ADD sources, sorted by path.
    pub files: Vec<FileInput>,
}

/// One source file of a COPY/ADD. `mode`/`uid`/`gid` are `None` when
/// `--chmod`/`--chown` override them (they cannot affect the result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInput {
    pub path: String,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub digest: String,
}

impl Inputs {
    pub fn key(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("sha256:{}", hex::encode(Sha256::digest(json)))
    }
}

/// The verdict for one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The cached image, when the key is known.
    pub hit: Option<ImageId>,
    /// Why not, in one line (empty on a hit).
    pub reason: String,
}

fn db(store: &Store) -> impl Fn(rusqlite::Error) -> crate::store::Error + '_ {
    store.db_err()
}

/// The image recorded for `inputs`, if any, with the reason otherwise.
pub fn explain(store: &Store, inputs: &Inputs) -> Result<Explanation> {
    let key = inputs.key();
    let hit: Option<String> = store
        .conn()
        .query_row(
            "SELECT image_id FROM build_cache WHERE key = ?1",
            [&key],
            |r| r.get(0),
        )
        .optional()
        .map_err(db(store))?;
    if let Some(id) = hit {
        return Ok(Explanation {
            hit: Some(Digest::parse(&id)?),
            reason: String::new(),
        });
    }
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT inputs FROM build_cache WHERE parent = ?1 ORDER BY created DESC, rowid DESC",
        )
        .map_err(db(store))?;
    let previous: Vec<Inputs> = stmt
        .query_map([&inputs.parent], |r| r.get::<_, String>(0))
        .map_err(db(store))?
        .filter_map(|r| r.ok())
        .filter_map(|s| serde_json::from_str(&s).ok())
        .collect();
    let keyword = |s: &str| s.split_whitespace().next().unwrap_or("").to_string();
    // Prefer the same instruction, then the same keyword, then anything.
    let best = previous
        .iter()
        .find(|p| p.instruction == inputs.instruction)
        .or_else(|| {
            previous
                .iter()
                .find(|p| keyword(&p.instruction) == keyword(&inputs.instruction))
        })
        .or(previous.first());
    let reason = match best {
        None if inputs.parent == "scratch" => "no earlier build of this step".to_string(),
        None => "no earlier build of this step on this parent image".to_string(),
        Some(p) => compare(p, inputs),
    };
    Ok(Explanation { hit: None, reason })
}

/// One line saying how `new` differs from `old`.
fn compare(old: &Inputs, new: &Inputs) -> String {
    if old.instruction != new.instruction {
        return "instruction changed".into();
    }
    for (k, v) in &new.args {
        match old.args.iter().find(|(ok, _)| ok == k) {
            None => return format!("build arg {k} added"),
            Some((_, ov)) if ov != v => return format!("build arg {k} changed ({ov:?} -> {v:?})"),
            _ => {}
        }
    }
    if let Some((k, _)) = old
        .args
        .iter()
        .find(|(k, _)| !new.args.iter().any(|(n, _)| n == k))
    {
        return format!("build arg {k} removed");
    }
    let short = |d: &str| {
        let cut = d.char_indices().nth(11).map(|(i, _)| i).unwrap_or(d.len());
        format!("{}..", &d[..cut])
    };
    let mut reasons = Vec::new();
    for f in &new.files {
        match old.files.iter().find(|o| o.path == f.path) {
            None => reasons.push(format!("{} added", f.path)),
            Some(o) if o.digest != f.digest => reasons.push(format!(
                "{} content changed ({} -> {})",
                f.path,
                short(&o.digest),
                short(&f.digest)
            )),
            Some(o) if o.mode != f.mode => reasons.push(format!(
                "{} mode changed ({:o} -> {:o})",
                f.path,
                o.mode.unwrap_or(0),
                f.mode.unwrap_or(0)
            )),
            Some(o) if (o.uid, o.gid) != (f.uid, f.gid) => {
                reasons.push(format!("{} owner changed", f.path))
            }
            _ => {}
        }
    }
    for o in &old.files {
        if !new.files.iter().any(|f| f.path == o.path) {
            reasons.push(format!("{} removed", o.path));
        }
    }
    match reasons.len() {
        0 => "inputs changed".into(),
        1 => reasons.remove(0),
        n => format!("{} (and {} more changes)", reasons[0], n - 1),
    }
}

/// Records `image` for `inputs` unless a concurrent build recorded the same
/// key since this one looked it up: then that build's image is returned and
/// this build continues from it (leased), exactly as if it had been a cache
/// hit. Without it, builds that ran a shared step at once would each go on
/// from their own copy, and none of their later steps would ever be found
/// from the one the cache keeps.
pub fn record_or_adopt(store: &Store, inputs: &Inputs, image: &ImageId) -> Result<ImageId> {
    let tx = rusqlite::Transaction::new_unchecked(
        store.conn(),
        rusqlite::TransactionBehavior::Immediate,
    )
    .map_err(db(store))?;
    insert(store, inputs, image, "NOTHING")?;
    let winner: String = tx
        .query_row(
            "SELECT image_id FROM build_cache WHERE key = ?1",
            [inputs.key()],
            |r| r.get(0),
        )
        .map_err(db(store))?;
    tx.commit().map_err(db(store))?;
    let winner = Digest::parse(&winner)?;
    if &winner != image {
        store.lease_image(&winner)?;
    }
    Ok(winner)
}

/// Records `image` for `inputs`, replacing what the key had (`--no-cache`).
pub fn record(store: &Store, inputs: &Inputs, image: &ImageId) -> Result<()> {
    insert(
        store,
        inputs,
        image,
        "UPDATE SET image_id = excluded.image_id, created = excluded.created",
    )
}

/// The row of a step that ran; `on_conflict` is the `DO` clause for a key
/// already there.
fn insert(store: &Store, inputs: &Inputs, image: &ImageId, on_conflict: &str) -> Result<()> {
    let json = serde_json::to_string(inputs).unwrap_or_default();
    store
        .conn()
        .execute(
            &format!(
                "INSERT INTO build_cache (key, parent, instruction, inputs, image_id, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (key) DO {on_conflict}"
            ),
            params![
                inputs.key(),
                inputs.parent,
                inputs.instruction,
                json,
                image.as_str(),
                now_unix()
            ],
        )
        .map_err(db(store))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(instr: &str, digest: &str) -> Inputs {
        Inputs {
            parent: "sha256:p".into(),
            instruction: instr.into(),
            args: vec![("V".into(), "1".into())],
            files: vec![FileInput {
                path: "a".into(),
                mode: Some(0o644),
                uid: Some(0),
                gid: Some(0),
                digest: digest.into(),
            }],
        }
    }

    #[test]
    fn compare_names_the_first_difference() {
        let a = inputs("COPY a /", "sha256:ab12ab12ab12ff");
        assert_eq!(
            compare(&a, &inputs("COPY a /x", "sha256:ab12ab12ab12ff")),
            "instruction changed"
        );
        assert_eq!(
            compare(&a, &inputs("COPY a /", "sha256:cd34cd34cd34ff")),
            "a content changed (sha256:ab12.. -> sha256:cd34..)"
        );
        let mut b = a.clone();
        b.args[0].1 = "2".into();
        assert_eq!(compare(&a, &b), "build arg V changed (\"1\" -> \"2\")");
        assert_ne!(a.key(), b.key());
    }
}
