//! What every store-using command needs: the store opened from `--root`.

use std::path::Path;

use builder::store::Store;

/// Opens (creating if needed) the store at `root`.
pub fn open_store(root: &Path) -> anyhow::Result<Store> {
    log::debug!("store {}", root.display());
    Ok(Store::open(root)?)
}
