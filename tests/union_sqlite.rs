//! Data integrity of a SQLite database that starts in a lower layer and is
//! rewritten through the union by many small transactions, while a reader
//! that opened the lower file before the copy-up keeps reading (overlayfs
//! guarantees such readers see the copied-up data since Linux 4.19).
//! Rollback-journal and WAL modes (WAL adds a shared writable mmap of the
//! -shm file). Needs root and /dev/fuse.

mod common;
mod union_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::{Connection, OpenFlags, params};
use union_support::layers::pattern;
use union_support::mount::{Layout, Mount, watchdog};
use union_support::rng::Rng;

/// Rows of the initial database: 8000 x 4 KiB blobs, about 34 MB.
const INITIAL_ROWS: i64 = 8000;
const BLOB: usize = 4096;

/// Row id -> seed of its content (`pattern(len, seed)`), for committed rows.
type Model = BTreeMap<i64, (usize, u64)>;

fn create_lower_db(path: &Path, journal_mode: &str) -> Model {
    std::fs::create_dir_all(path.parent().expect("db has a parent")).expect("mkdir db dir");
    let mut db = Connection::open(path).expect("create lower db");
    db.query_row(&format!("PRAGMA journal_mode={journal_mode}"), [], |_| {
        Ok(())
    })
    .expect("journal mode");
    db.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
        .expect("create table");
    let mut model = Model::new();
    let tx = db.transaction().expect("begin");
    for id in 1..=INITIAL_ROWS {
        let seed = id as u64 * 7919;
        tx.execute(
            "INSERT INTO t(id, v) VALUES (?1, ?2)",
            params![id, pattern(BLOB, seed)],
        )
        .expect("insert");
        model.insert(id, (BLOB, seed));
    }
    tx.commit().expect("commit");
    // Leave no -wal/-shm next to it: the layer holds only the db file.
    db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    drop(db);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    model
}

fn integrity_ok(db: &Connection, when: &str) {
    let result: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(result, "ok", "PRAGMA integrity_check {when}");
}

/// Every committed row is there with its exact content, and nothing else.
fn verify_all(db: &Connection, model: &Model, when: &str) {
    let mut stmt = db
        .prepare("SELECT id, v FROM t ORDER BY id")
        .expect("prepare scan");
    let rows: Vec<(i64, Vec<u8>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("scan")
        .collect::<Result<_, _>>()
        .expect("rows");
    let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
    let want: Vec<i64> = model.keys().copied().collect();
    assert_eq!(ids.len(), want.len(), "row count {when}");
    assert!(ids == want, "row ids differ from the committed ones {when}");
    for (id, v) in rows {
        let (len, seed) = model[&id];
        assert!(
            v == pattern(len, seed),
            "row {id} content differs from what was committed {when}"
        );
    }
}

fn verify_rows(db: &Connection, model: &Model, ids: &[i64], when: &str) {
    let count: i64 = db
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .expect("count");
    assert_eq!(
        count as usize,
        model.len(),
        "row count seen by the reader {when}"
    );
    for id in ids {
        let got: Option<Vec<u8>> =
            match db.query_row("SELECT v FROM t WHERE id = ?1", [id], |r| r.get(0)) {
                Ok(v) => Some(v),
                Err(rusqlite::Error::QueryReturnedNoRows) => None,
                Err(e) => panic!("reader: select row {id} {when}: {e}"),
            };
        let want = model.get(id).map(|(len, seed)| pattern(*len, *seed));
        assert!(
            got == want,
            "reader sees stale or wrong content of row {id} {when}"
        );
    }
}

fn sqlite_workload(journal_mode: &'static str, transactions: u64) {
    common::require_root_and_fuse();
    let tmp = union_support::tempdir();
    let mnt = tmp.path().join("mnt");
    // Far beyond the seconds it takes: only a hang trips it.
    let limit = std::time::Duration::from_secs(1800);
    watchdog(limit, vec![mnt], move || {
        run_workload(tmp.path(), journal_mode, transactions)
    });
}

/// Reads random rows, counts and quick_checks until `stop`; any error but
/// "busy" (the writer holds the lock) means the reader saw a broken file.
/// Returns the number of completed reads.
fn read_until(db: Connection, stop: &AtomicBool) -> Result<u64, String> {
    db.busy_timeout(std::time::Duration::from_secs(60))
        .map_err(|e| e.to_string())?;
    let mut rng = Rng::new(7);
    let mut reads = 0;
    while !stop.load(Ordering::Relaxed) {
        let id = 1 + rng.below(INITIAL_ROWS as u64) as i64;
        let result = match reads % 100 {
            0 => db
                .query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0))
                .map(|r| (r != "ok").then(|| format!("quick_check: {r}"))),
            n if n % 10 == 0 => db
                .query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
                .map(|_| None),
            _ => db
                .query_row("SELECT length(v) FROM t WHERE id = ?1", [id], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|len| (len != BLOB as i64).then(|| format!("row {id} has {len} bytes"))),
        };
        match result {
            Ok(None) => reads += 1,
            Ok(Some(bad)) => return Err(bad),
            Err(rusqlite::Error::QueryReturnedNoRows) => reads += 1,
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) => {}
            Err(e) => return Err(format!("after {reads} reads: {e}")),
        }
    }
    Ok(reads)
}

fn run_workload(root: &Path, journal_mode: &str, transactions: u64) {
    let layout = Layout::create(root, 1);
    let lower_db = layout.lowers[0].join("data/app.db");
    let mut model = create_lower_db(&lower_db, journal_mode);
    let lower_bytes = std::fs::read(&lower_db).expect("read lower db");
    let db_path = layout.mnt.join("data/app.db");
    {
        let mount = Mount::union(&layout);
        // The reader opens the lower file before anything copies it up.
        let reader = Connection::open_with_flags(&db_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open reader");
        verify_rows(&reader, &model, &[1, 2, INITIAL_ROWS], "before any write");
        // A second reader, also opened before the copy-up, reads all the
        // time on its own thread: the daemon serves it and the writer
        // concurrently.
        let background = Connection::open_with_flags(&db_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open background reader");
        let stop = Arc::new(AtomicBool::new(false));
        let stop_reader = Arc::clone(&stop);
        let reading = std::thread::spawn(move || read_until(background, &stop_reader));
        let mut writer = Connection::open(&db_path).expect("open writer");
        writer
            .busy_timeout(std::time::Duration::from_secs(60))
            .expect("busy timeout");
        reader
            .busy_timeout(std::time::Duration::from_secs(60))
            .expect("busy timeout");
        let mut rng = Rng::new(42);
        for n in 0..transactions {
            let next_id = 100_000 + n as i64;
            let tx = writer.transaction().expect("begin");
            let (len, seed) = (1 + rng.below(600) as usize, rng.next_u64());
            tx.execute(
                "INSERT INTO t(id, v) VALUES (?1, ?2)",
                params![next_id, pattern(len, seed)],
            )
            .expect("insert");
            let upd = 1 + rng.below(INITIAL_ROWS as u64) as i64;
            let useed = rng.next_u64();
            tx.execute(
                "UPDATE t SET v = ?2 WHERE id = ?1",
                params![upd, pattern(BLOB, useed)],
            )
            .expect("update");
            let del = 1 + rng.below(INITIAL_ROWS as u64) as i64;
            let deleting = n % 10 == 9;
            if deleting {
                tx.execute("DELETE FROM t WHERE id = ?1", [del])
                    .expect("delete");
            }
            tx.commit()
                .unwrap_or_else(|e| panic!("commit of transaction {n}: {e}"));
            // The model changes only once the commit returned.
            model.insert(next_id, (len, seed));
            if model.contains_key(&upd) {
                model.insert(upd, (BLOB, useed));
            }
            if deleting {
                model.remove(&del);
            }
            if n % 50 == 0 {
                verify_rows(
                    &reader,
                    &model,
                    &[next_id, upd, del],
                    &format!("after transaction {n}"),
                );
            }
            if journal_mode == "wal" && n % 300 == 299 {
                writer
                    .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                    .expect("checkpoint");
            }
        }
        stop.store(true, Ordering::Relaxed);
        let reads = reading
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
            .unwrap_or_else(|e| panic!("concurrent reader: {e}"));
        assert!(reads > 0, "the concurrent reader never completed a read");
        integrity_ok(&writer, "at the end, through the mount");
        verify_all(&writer, &model, "at the end, through the mount");
        verify_all(
            &reader,
            &model,
            "at the end, by the reader opened before the copy-up",
        );
        drop(reader);
        drop(writer);
        mount.unmount();
    }
    // The lower layer is untouched; the upper holds the copy.
    assert!(
        std::fs::read(&lower_db).expect("read lower db") == lower_bytes,
        "the lower db file was modified"
    );
    assert!(
        layout.upper.join("data/app.db").is_file(),
        "no copied-up db in upper/"
    );
    let _mount = Mount::union(&layout);
    let db = Connection::open(&db_path).expect("reopen after remount");
    integrity_ok(&db, "after remounting");
    verify_all(&db, &model, "after remounting");
}

#[test]
fn union_sqlite_rollback_journal_lower_db_small_transactions() {
    sqlite_workload("delete", 1000);
}

#[test]
fn union_sqlite_wal_lower_db_small_transactions() {
    sqlite_workload("wal", 1000);
}
