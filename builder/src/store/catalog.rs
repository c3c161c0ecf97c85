//! The SQLite catalog: the source of truth for what exists in the store.
//!
//! Schema changes are an append-only list of migrations; `PRAGMA user_version`
//! holds how many have run. A catalog with a higher version than this binary
//! knows is refused before anything is written (an older strata must not
//! scribble over a newer schema). WAL mode lets readers proceed while one
//! writer commits; `busy_timeout` makes concurrent writers wait, not fail.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::error::{Error, Result};

/// Migrations, in order. Never edit or reorder one that has shipped: append.
const MIGRATIONS: &[&str] = &[
    // 1: layers, images, tags, containers.
    "CREATE TABLE layers (
        diff_id    TEXT PRIMARY KEY,          -- sha256:... of the layer's tar stream
        tar_digest TEXT NOT NULL,             -- sha256 of our canonical re-tar (system check)
        size       INTEGER NOT NULL,          -- bytes of file content
        tar_size   INTEGER NOT NULL,          -- bytes of the canonical tar stream
        created    INTEGER NOT NULL           -- unix seconds
    );
    CREATE TABLE images (
        id       TEXT PRIMARY KEY,            -- sha256 of config
        config   BLOB NOT NULL,               -- the config bytes, verbatim
        parent   TEXT REFERENCES images(id),  -- image this one was built on (build steps)
        created  INTEGER NOT NULL,            -- unix seconds (config.created, else insertion)
        size     INTEGER NOT NULL             -- sum of layer sizes
    );
    CREATE INDEX images_parent ON images(parent);
    CREATE TABLE image_layers (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,            -- 0 = bottom
        diff_id  TEXT NOT NULL REFERENCES layers(diff_id),
        PRIMARY KEY (image_id, position)
    );
    CREATE INDEX image_layers_diff ON image_layers(diff_id);
    CREATE TABLE tags (
        repository TEXT NOT NULL,             -- full name: docker.io/library/ubuntu
        tag        TEXT NOT NULL,
        image_id   TEXT NOT NULL REFERENCES images(id),
        PRIMARY KEY (repository, tag)
    );
    CREATE INDEX tags_image ON tags(image_id);
    CREATE TABLE repo_digests (
        repository TEXT NOT NULL,
        digest     TEXT NOT NULL,             -- manifest digest (pull/push)
        image_id   TEXT NOT NULL REFERENCES images(id),
        PRIMARY KEY (repository, digest)
    );
    -- Layers created by a live process and not yet referenced by an image:
    -- GC must not remove them. `session` names a lock file under tmp/ that the
    -- owning process holds; a session whose lock can be taken is dead.
    CREATE TABLE layer_leases (
        diff_id TEXT NOT NULL REFERENCES layers(diff_id) ON DELETE CASCADE,
        session TEXT NOT NULL,
        PRIMARY KEY (diff_id, session)
    );
    -- Same for images a live process stored and has not tagged or built on
    -- yet (a build's last step before its tag): prune leaves them alone.
    CREATE TABLE image_leases (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        session  TEXT NOT NULL,
        PRIMARY KEY (image_id, session)
    );
    -- Minimal container record; the runtime extends it with later migrations.
    CREATE TABLE containers (
        id        TEXT PRIMARY KEY,           -- 64 hex
        name      TEXT NOT NULL UNIQUE,
        image_id  TEXT NOT NULL REFERENCES images(id),
        state     TEXT NOT NULL,              -- created, running, exited
        created   INTEGER NOT NULL,
        pid       INTEGER,
        exit_code INTEGER,
        config    BLOB                        -- runtime's own JSON
    );
    CREATE INDEX containers_image ON containers(image_id);",
    // Build cache: one row per executed step, keyed by the sha256 of its
    // inputs (kept as JSON so a miss can say what changed).
    "CREATE TABLE build_cache (
        key         TEXT PRIMARY KEY,
        parent      TEXT NOT NULL,
        instruction TEXT NOT NULL,
        inputs      TEXT NOT NULL,
        image_id    TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        created     INTEGER NOT NULL
    );
    CREATE INDEX build_cache_parent ON build_cache(parent);
    CREATE INDEX build_cache_image ON build_cache(image_id);",
];

/// Schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Opens (creating if needed) and migrates the catalog at `path`.
///
/// Switching a fresh catalog to WAL takes an exclusive lock for which SQLite
/// may return SQLITE_BUSY without calling the busy handler (two processes
/// opening a new store at once), so a busy open is retried here, within the
/// same bound as `busy_timeout`.
pub fn open(path: &Path) -> Result<Connection> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match open_once(path) {
            Err(Error::Catalog {
                source: rusqlite::Error::SqliteFailure(e, _),
                ..
            }) if e.code == rusqlite::ErrorCode::DatabaseBusy
                && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// How long a writer waits for another one before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

fn open_once(path: &Path) -> Result<Connection> {
    let err = |source| Error::Catalog {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    // Check the version before changing anything, even the journal mode.
    let found = schema_version(&conn, path)?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
        .map_err(err)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(err)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(err)?;
    if found < SCHEMA_VERSION {
        migrate(conn, path)
    } else {
        Ok(conn)
    }
}

/// The catalog's schema version; an error if it is newer than ours.
fn schema_version(conn: &Connection, path: &Path) -> Result<i64> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|source| Error::Catalog {
            path: path.to_path_buf(),
            source,
        })?;
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

fn migrate(mut conn: Connection, path: &Path) -> Result<Connection> {
    let err = |source| Error::Catalog {
        path: path.to_path_buf(),
        source,
    };
    // IMMEDIATE: two processes opening a fresh store serialise here, and the
    // second sees the first one's version after it gets the write lock.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    let found = schema_version(&tx, path)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql).map_err(err)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(err)?;
    }
    tx.commit().map_err(err)?;
    Ok(conn)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let conn = open(&path).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        drop(conn);
        // Reopening is a no-op.
        drop(open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        match open(&path) {
            Err(Error::SchemaTooNew { found, .. }) => assert_eq!(found, SCHEMA_VERSION + 1),
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
    }
}
