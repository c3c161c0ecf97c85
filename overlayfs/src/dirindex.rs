//! Cheap lookups in deep stacks: for a directory merged from many lower
//! layers, the first lower layer holding each name (as an object or as a
//! whiteout), read once from the layers' listings.
//!
//! Without it a lookup stats the name (and its `.wh.` marker) in every
//! merged layer: 256 stats per lookup in a 128-layer image. With it, only
//! the upper layer and the lower layers from the first one that mentions
//! the name on are asked (usually one). Lower layers never change while
//! mounted, so an index never goes stale; it is keyed by the directory's
//! path and the exact list of its lower layers (a directory removed and
//! made again, or renamed, has another list). The upper layer is never
//! indexed: it changes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::layers::{Layer, Stack, is_absent};
use crate::markers;

/// Directories merged from fewer lower layers are looked up by stat-ing
/// each layer: as cheap as a hash lookup, and no listing to read.
const MIN_LOWERS: usize = 8;
/// Indexes kept at most; the cache is emptied when it is full (each one
/// is rebuilt on demand).
const MAX_DIRS: usize = 4096;

#[derive(Debug)]
struct DirIndex {
    lowers: Vec<Layer>,
    /// name -> position in `lowers` of the first layer mentioning it.
    first: HashMap<OsString, usize>,
}

#[derive(Debug, Default)]
pub struct DirIndexes {
    map: Mutex<HashMap<PathBuf, Arc<DirIndex>>>,
}

impl DirIndexes {
    /// The layers of `dir_layers` where `dir/name` may be: all of them for
    /// a shallow directory; else the upper layer (if merged) and the lower
    /// layers from the first one that mentions `name`.
    pub fn candidates<'a>(
        &self,
        stack: &Stack,
        dir_layers: &'a [Layer],
        dir: &Path,
        name: &OsStr,
    ) -> io::Result<Cow<'a, [Layer]>> {
        // Counted first: most lookups need no index and no allocation.
        if dir_layers.iter().filter(|l| **l != Layer::Upper).count() < MIN_LOWERS {
            return Ok(Cow::Borrowed(dir_layers));
        }
        let lowers: Vec<Layer> = dir_layers
            .iter()
            .copied()
            .filter(|l| *l != Layer::Upper)
            .collect();
        let index = self.get(stack, dir, lowers)?;
        let mut out: Vec<Layer> = dir_layers
            .iter()
            .copied()
            .filter(|l| *l == Layer::Upper)
            .collect();
        if let Some(&pos) = index.first.get(name) {
            out.extend_from_slice(&index.lowers[pos..]);
        }
        Ok(Cow::Owned(out))
    }

    fn get(&self, stack: &Stack, dir: &Path, lowers: Vec<Layer>) -> io::Result<Arc<DirIndex>> {
        if let Some(ix) = self.lock().get(dir).filter(|ix| ix.lowers == lowers) {
            return Ok(ix.clone());
        }
        // Built without the lock: two threads may both build it, the same.
        let ix = Arc::new(build(stack, dir, lowers)?);
        let mut map = self.lock();
        if map.len() >= MAX_DIRS {
            map.clear();
        }
        map.insert(dir.to_path_buf(), ix.clone());
        Ok(ix)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Arc<DirIndex>>> {
        // Single inserts and clears: a poisoned map is still consistent.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn build(stack: &Stack, dir: &Path, lowers: Vec<Layer>) -> io::Result<DirIndex> {
    let mut first = HashMap::new();
    for (pos, &layer) in lowers.iter().enumerate() {
        let entries = match std::fs::read_dir(stack.path(layer, dir)) {
            Ok(e) => e,
            Err(e) if is_absent(&e) => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let name = entry?.file_name();
            if name == markers::OPAQUE_MARKER {
                continue;
            }
            // A `.wh.<x>` marker mentions `x`: resolution stops there.
            let key = markers::whiteout_target(&name).map(OsStr::to_os_string);
            first.entry(key.unwrap_or(name)).or_insert(pos);
        }
    }
    Ok(DirIndex { lowers, first })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn lookups_start_at_the_first_layer_mentioning_the_name() {
        let t = tempfile::tempdir().unwrap();
        let lowers: Vec<PathBuf> = (0..10).map(|i| t.path().join(format!("l{i}"))).collect();
        for l in &lowers {
            fs::create_dir_all(l.join("d")).unwrap();
        }
        fs::write(lowers[9].join("d/deep"), "").unwrap();
        fs::write(lowers[4].join("d/.wh.hidden"), "").unwrap();
        fs::write(lowers[9].join("d/hidden"), "").unwrap();
        let stack = Stack {
            upper: Some(t.path().join("u")),
            work: None,
            lowers,
            index: DirIndexes::default(),
            upper_markers: Default::default(),
        };
        let mut layers = vec![Layer::Upper];
        layers.extend((0..10).map(Layer::Lower));
        let ix = DirIndexes::default();
        let c = |name: &str| {
            ix.candidates(&stack, &layers, Path::new("d"), OsStr::new(name))
                .unwrap()
                .into_owned()
        };
        assert_eq!(c("deep"), vec![Layer::Upper, Layer::Lower(9)]);
        assert_eq!(
            c("hidden"),
            [Layer::Upper]
                .into_iter()
                .chain((4..10).map(Layer::Lower))
                .collect::<Vec<_>>()
        );
        assert_eq!(c("absent"), vec![Layer::Upper]);
        // Shallow directories are not indexed.
        let few = [Layer::Upper, Layer::Lower(0), Layer::Lower(9)];
        let got = ix
            .candidates(&stack, &few, Path::new("d"), OsStr::new("absent"))
            .unwrap();
        assert_eq!(&*got, &few);
    }
}
