//! Helpers of the fault tests (crash_kill, disk_full, load_concurrency):
//! what "the store is sound" means after a fault, finding processes and
//! mounts a test's store left behind, a seeded RNG for kill delays, and a
//! size-limited tmpfs guard.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::store::{strata, strata_ok};

/// Size of the big file the fault tests store: large enough that every
/// stage of an operation takes a while (kill points) and fills the test
/// tmpfs (disk full).
pub const BIG: usize = 24 << 20;

/// Writes BIG non-repeating bytes (incompressible: a tar of it stays big).
pub fn big_file(path: &Path) {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let data: Vec<u8> = (0..BIG)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(path, data).unwrap();
}

/// `STRATA_LONG_TESTS=1` selects the long variants.
pub fn long() -> bool {
    std::env::var("STRATA_LONG_TESTS").is_ok_and(|v| v == "1")
}

/// xorshift64*: kill delays must differ from run to run (so repeated CI runs
/// cover more points) yet be reproducible: the seed is printed and
/// `STRATA_CRASH_SEED` replays it.
pub struct Rng(u64);

impl Rng {
    pub fn new(test: &str) -> Rng {
        let seed = std::env::var("STRATA_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("{test}: STRATA_CRASH_SEED={seed}");
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A delay in [0, 1.25 * span): most kills land inside the operation,
    /// some after it ended (then the operation simply completed).
    pub fn delay(&mut self, span: Duration) -> Duration {
        let max = (span.as_micros() as u64 * 5 / 4).max(1000);
        Duration::from_micros(self.next() % max)
    }
}

/// Processes belonging to the store at `root`: strata processes started by
/// the test helpers carry `root` in their environment (STRATA_AUTH_FILE),
/// test containers carry it in their command line or their image's ENV.
/// Zombies are gone for this purpose. Returns (pid, command line).
pub fn processes_of(root: &Path) -> Vec<(i32, String)> {
    let needle = root.to_str().unwrap().as_bytes().to_vec();
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let dir = entry.path();
        let state = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        if state
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        {
            continue;
        }
        let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
        let environ = std::fs::read(dir.join("environ")).unwrap_or_default();
        let has = |hay: &[u8]| hay.windows(needle.len()).any(|w| w == needle.as_slice());
        if has(&cmdline) || has(&environ) {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push((pid, text));
        }
    }
    found
}

/// Pid of the one `-d` container supervisor of the store.
pub fn supervisor_pid(root: &Path) -> i32 {
    let procs = processes_of(root);
    let sup: Vec<i32> = procs
        .iter()
        .filter(|(_, c)| c.contains("__supervise"))
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(sup.len(), 1, "one supervisor expected: {procs:?}");
    sup[0]
}

/// Waits (bounded, generously: not a timing assertion) until no process of
/// `root` is left but those `keep` accepts; panics naming the leftovers.
pub fn assert_no_processes(root: &Path, keep: &dyn Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left: Vec<_> = processes_of(root)
            .into_iter()
            .filter(|(_, cmd)| !keep(cmd))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "processes left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Mount points at or under `root`.
pub fn mounts_under(root: &Path) -> Vec<String> {
    crate::container_support::mounts_under(root)
}

/// No mount under `root` but those whose path contains one of `keep`.
pub fn assert_no_mounts(root: &Path, keep: &[String]) {
    let left: Vec<_> = mounts_under(root)
        .into_iter()
        .filter(|m| !keep.iter().any(|k| m.contains(k.as_str())))
        .collect();
    assert!(left.is_empty(), "mounts left behind: {left:?}");
}

/// What a fault may leave and the next strata process or `system check
/// --repair` removes; anything else `system check` reports is corruption.
const LEFTOVERS: &[&str] = &["leftover staging tmp/", "has no catalog row"];

/// The store is sound: `system check` finds no corruption (leftovers of
/// the killed process are allowed and then repaired), SQLite's
/// `integrity_check` passes, every image's layers exist with their rows and
/// were verified by `system check` (their trees re-tarred against the
/// recorded digests), and tmp/ holds only live sessions. Returns the ids of
/// the images in the catalog.
pub fn assert_sound(root: &Path) -> Vec<String> {
    let out = strata(root, &["system", "check"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let problems: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("problem: "))
        .collect();
    for p in &problems {
        assert!(
            LEFTOVERS.iter().any(|l| p.contains(l)),
            "corruption after the fault: {text}{err}"
        );
    }
    assert!(
        out.status.success() || !problems.is_empty(),
        "system check failed: {text}{err}"
    );
    if !problems.is_empty() {
        strata_ok(root, &["system", "check", "--repair"]);
        let again = strata_ok(root, &["system", "check"]);
        assert!(again.contains(" 0 problems"), "{again}");
    }

    // Temporary files of save/load/pull live in the session's staging;
    // only resumable partial downloads may stay in blobs/tmp.
    let blob_tmp: Vec<_> = std::fs::read_dir(root.join("blobs/tmp"))
        .into_iter()
        .flatten()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "partial")
        .collect();
    assert!(blob_tmp.is_empty(), "left in blobs/tmp: {blob_tmp:?}");

    let conn = rusqlite::Connection::open(root.join("catalog.db")).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok", "SQLite integrity_check");
    let fk: i64 = conn
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0, "dangling foreign keys");

    let mut stmt = conn.prepare("SELECT id FROM images").unwrap();
    let images: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for id in &images {
        let config: Vec<u8> = conn
            .query_row("SELECT config FROM images WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&config).unwrap();
        let wanted: Vec<String> = v["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_string())
            .collect();
        let mut stmt = conn
            .prepare("SELECT diff_id FROM image_layers WHERE image_id = ?1 ORDER BY position")
            .unwrap();
        let have: Vec<String> = stmt
            .query_map([id], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut unique = wanted.clone();
        unique.dedup();
        assert!(
            have == wanted || have == unique,
            "image {id} lists {have:?}, its config {wanted:?}"
        );
        for d in &have {
            let hex = d.trim_start_matches("sha256:");
            assert!(
                root.join("layers").join(hex).is_dir(),
                "image {id}: layer {d} has no files"
            );
        }
    }
    images
}

/// A path as a string (for command lines).
pub fn path_str(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// A size-limited tmpfs mounted at a new dir, unmounted (lazily, so a
/// leftover FUSE mount under it cannot keep it) when dropped.
pub struct Tmpfs {
    pub dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    pub fn new(size: &str) -> Tmpfs {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("fs");
        std::fs::create_dir(&dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "mount -t tmpfs failed");
        Tmpfs {
            dir,
            _parent: parent,
        }
    }

    /// Bytes free on the tmpfs.
    pub fn free(&self) -> u64 {
        let s = nix::sys::statvfs::statvfs(&self.dir).unwrap();
        s.blocks_available() * s.fragment_size()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        for m in mounts_under(&self.dir).into_iter().rev() {
            let _ = nix::mount::umount2(Path::new(&m), nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = nix::mount::umount2(&self.dir, nix::mount::MntFlags::MNT_DETACH);
    }
}
