//! Container rows in the catalog's `containers` table and their directories
//! `containers/<id>/{upper,work,merged}` plus the runtime's state files.
//!
//! The row's `config` column holds [`Stored`] as JSON: everything needed to
//! start the container again (`container start`) and to show it (`ps`).
//! A row is inserted only after its directories exist; removal deletes the
//! row first, then the directories, so a crash leaves at worst dirs without a
//! row, never a row without its upper.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::config::{Options, entrypoint_and_cmd, process_spec};
use super::error::{ContainerError, Result, io_err};
use crate::runtime::{BindMount, ContainerSpec, NetworkMode, ProcessIdentity, ProcessSpec};
use crate::store::time::now_unix;
use crate::store::{Image, Store};

/// Docker's container states that strata uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Created,
    Running,
    Exited,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Exited => "exited",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "running" => State::Running,
            "created" => State::Created,
            _ => State::Exited,
        }
    }
}

/// The JSON in the row's `config` column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// The image as the user named it (`ps` shows this).
    pub image: String,
    pub process: ProcessSpec,
    pub hostname: String,
    pub network: NetworkMode,
    #[serde(default)]
    pub mounts: Vec<BindMount>,
    #[serde(default)]
    pub started: Option<i64>,
    #[serde(default)]
    pub finished: Option<i64>,
    /// The strata process keeping the union mount served (foreground `run`
    /// or a `-d` supervisor); dead while `Running` = strata was killed.
    #[serde(default)]
    pub supervisor: Option<ProcessIdentity>,
    /// Entrypoint and Cmd as resolved at create time (`commit` writes them).
    #[serde(default)]
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub cmd: Vec<String>,
}

/// One container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: String,
    pub name: String,
    pub image_id: String,
    pub state: State,
    /// Unix seconds.
    pub created: i64,
    /// Host pid of the container's PID 1 while running.
    pub pid: Option<i32>,
    pub exit_code: Option<i32>,
    pub config: Stored,
}

impl Record {
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }
}

/// Container bookkeeping on top of an open store.
pub struct Containers<'a> {
    store: &'a Store,
}

const COLUMNS: &str = "id, name, image_id, state, created, pid, exit_code, config";

impl<'a> Containers<'a> {
    pub fn new(store: &'a Store) -> Self {
        Containers { store }
    }

    pub fn store(&self) -> &Store {
        self.store
    }

    /// `containers/<id>/`
    pub fn dir(&self, id: &str) -> PathBuf {
        self.store.layout().containers().join(id)
    }
    pub fn upper(&self, id: &str) -> PathBuf {
        self.dir(id).join("upper")
    }
    pub fn work(&self, id: &str) -> PathBuf {
        self.dir(id).join("work")
    }
    pub fn merged(&self, id: &str) -> PathBuf {
        self.dir(id).join("merged")
    }
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.dir(id).join("container.log")
    }

    /// Creates the row and directories of a new container of `image`.
    pub fn create(&self, image: &Image, image_name: &str, opts: &Options) -> Result<Record> {
        let process = process_spec(&image.config.config, opts)?;
        let (entrypoint, cmd) = entrypoint_and_cmd(&image.config.config, opts);
        let id = random_id()?;
        let name = match &opts.name {
            Some(n) => {
                check_name(n)?;
                n.clone()
            }
            None => generated_name(&id),
        };
        if let Some(other) = self.by_name(&name)? {
            return Err(ContainerError::NameInUse { name, id: other.id });
        }
        let stored = Stored {
            image: image_name.to_string(),
            process,
            hostname: opts
                .hostname
                .clone()
                .unwrap_or_else(|| id[..12].to_string()),
            network: opts.network(),
            mounts: opts.mounts.clone(),
            started: None,
            finished: None,
            supervisor: None,
            entrypoint,
            cmd,
        };
        for dir in [self.upper(&id), self.work(&id), self.merged(&id)] {
            std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        let record = Record {
            id: id.clone(),
            name: name.clone(),
            image_id: image.id.as_str().to_string(),
            state: State::Created,
            created: now_unix(),
            pid: None,
            exit_code: None,
            config: stored,
        };
        let json =
            serde_json::to_vec(&record.config).map_err(|source| ContainerError::BadConfig {
                id: id.clone(),
                source,
            })?;
        let inserted = self.store.conn().execute(
            "INSERT INTO containers (id, name, image_id, state, created, config)
             VALUES (?1, ?2, ?3, 'created', ?4, ?5)",
            params![id, name, record.image_id, record.created, json],
        );
        if let Err(err) = inserted {
            let _ = std::fs::remove_dir_all(self.dir(&id));
            // A concurrent create may have taken the name after our check.
            if let Some(other) = self.by_name(&name)? {
                return Err(ContainerError::NameInUse { name, id: other.id });
            }
            return Err(err.into());
        }
        Ok(record)
    }

    /// Docker's lookup: full id, then exact name, then unique id prefix.
    pub fn resolve(&self, input: &str) -> Result<Record> {
        let no_such = || ContainerError::NoSuchContainer(input.to_string());
        if input.is_empty() {
            return Err(no_such());
        }
        if let Some(r) = self.query_one("id = ?1", input)? {
            return Ok(r);
        }
        if let Some(r) = self.by_name(input)? {
            return Ok(r);
        }
        if !input.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(no_such());
        }
        let mut found = self.query("id LIKE ?1 || '%'", input)?;
        match found.len() {
            1 => Ok(found.remove(0)),
            _ => Err(no_such()),
        }
    }

    fn by_name(&self, name: &str) -> Result<Option<Record>> {
        self.query_one("name = ?1", name.trim_start_matches('/'))
    }

    /// All containers, newest first. Running ones whose supervisor died are
    /// marked exited on the way (see [`Containers::reap_dead`]).
    pub fn list(&self) -> Result<Vec<Record>> {
        let mut all = self.query("1 = 1 OR ?1 = ''", "")?;
        for r in &mut all {
            self.reap_dead(r)?;
        }
        all.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
        Ok(all)
    }

    /// A `Running` container whose supervisor is gone (strata killed): the
    /// container process is killed if it still runs, its stale mount is
    /// detached, and it is recorded as exited (137, like a killed process).
    pub fn reap_dead(&self, r: &mut Record) -> Result<()> {
        if r.state != State::Running {
            return Ok(());
        }
        let Some(sup) = r.config.supervisor else {
            return Ok(());
        };
        if sup.is_alive() {
            return Ok(());
        }
        if let Some(pid) = r.pid {
            let _ = crate::runtime::control::signal_process(pid, nix::sys::signal::Signal::SIGKILL);
        }
        detach_stale_mount(&self.merged(&r.id));
        self.set_exited(r, 137)?;
        Ok(())
    }

    fn query(&self, cond: &str, arg: &str) -> Result<Vec<Record>> {
        let sql = format!("SELECT {COLUMNS} FROM containers WHERE {cond}");
        let mut stmt = self.store.conn().prepare(&sql)?;
        let rows = stmt
            .query_map([arg], row_fields)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(into_record).collect()
    }

    fn query_one(&self, cond: &str, arg: &str) -> Result<Option<Record>> {
        let sql = format!("SELECT {COLUMNS} FROM containers WHERE {cond}");
        let row = self
            .store
            .conn()
            .query_row(&sql, [arg], row_fields)
            .optional()?;
        row.map(into_record).transpose()
    }

    fn save(&self, r: &Record) -> Result<()> {
        let json = serde_json::to_vec(&r.config).map_err(|source| ContainerError::BadConfig {
            id: r.id.clone(),
            source,
        })?;
        self.store.conn().execute(
            "UPDATE containers SET state = ?2, pid = ?3, exit_code = ?4, config = ?5 WHERE id = ?1",
            params![r.id, r.state.as_str(), r.pid, r.exit_code, json],
        )?;
        Ok(())
    }

    /// Records a started container: PID 1's host pid and the strata process
    /// serving its mount.
    pub fn set_running(&self, r: &mut Record, pid: i32, supervisor: ProcessIdentity) -> Result<()> {
        r.state = State::Running;
        r.pid = Some(pid);
        r.exit_code = None;
        r.config.started = Some(now_unix());
        r.config.finished = None;
        r.config.supervisor = Some(supervisor);
        self.save(r)
    }

    pub fn set_exited(&self, r: &mut Record, code: i32) -> Result<()> {
        r.state = State::Exited;
        r.pid = None;
        r.exit_code = Some(code);
        r.config.finished = Some(now_unix());
        r.config.supervisor = None;
        self.save(r)
    }

    /// Deletes the row, then the directories (the mount must be gone).
    pub fn remove(&self, r: &Record) -> Result<()> {
        self.store
            .conn()
            .execute("DELETE FROM containers WHERE id = ?1", [&r.id])?;
        let dir = self.dir(&r.id);
        detach_stale_mount(&self.merged(&r.id));
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&dir)(e)),
        }
    }

    /// The runtime's spec for `r`, its rootfs being the union mount.
    pub fn spec(&self, r: &Record) -> ContainerSpec {
        let mut spec = ContainerSpec::new(
            self.merged(&r.id),
            self.dir(&r.id),
            &r.config.hostname,
            r.config.process.clone(),
        );
        spec.network = r.config.network;
        spec.mounts = r.config.mounts.clone();
        spec.log_path = Some(self.log_path(&r.id));
        spec
    }

    /// Mounts the image's layers + the container's upper at `merged/`.
    pub fn mount(&self, r: &Record) -> Result<overlayfs::MountGuard> {
        let image = self.store.resolve_image(&r.image_id)?;
        let config = overlayfs::Config {
            lowerdirs: self.store.image_lowerdirs(&image)?,
            upperdir: Some(self.upper(&r.id)),
            workdir: Some(self.work(&r.id)),
            // The store's layers were checked when they were made.
            ..Default::default()
        };
        detach_stale_mount(&self.merged(&r.id));
        overlayfs::mount(config, &self.merged(&r.id)).map_err(|source| ContainerError::Mount {
            id: r.id.clone(),
            source,
        })
    }
}

type Row = (
    String,
    String,
    String,
    String,
    i64,
    Option<i32>,
    Option<i32>,
    Vec<u8>,
);

fn row_fields(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn into_record(row: Row) -> Result<Record> {
    let (id, name, image_id, state, created, pid, exit_code, config) = row;
    let config = serde_json::from_slice(&config).map_err(|source| ContainerError::BadConfig {
        id: id.clone(),
        source,
    })?;
    Ok(Record {
        id,
        name,
        image_id,
        state: State::parse(&state),
        created,
        pid,
        exit_code,
        config,
    })
}

/// Docker's name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
fn check_name(name: &str) -> Result<()> {
    let name = name.trim_start_matches('/');
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && name.len() > 1;
    if ok {
        Ok(())
    } else {
        Err(ContainerError::InvalidName(name.to_string()))
    }
}

/// Docker-like `adjective_surname`, picked from the random id.
fn generated_name(id: &str) -> String {
    const LEFT: &[&str] = &[
        "admiring", "bold", "brave", "clever", "eager", "focused", "gallant", "happy", "jolly",
        "keen", "loving", "modest", "nifty", "quirky", "serene", "vibrant",
    ];
    const RIGHT: &[&str] = &[
        "babbage", "curie", "darwin", "euler", "fermi", "galois", "hopper", "knuth", "lovelace",
        "noether", "pascal", "ritchie", "shannon", "thompson", "turing", "wozniak",
    ];
    let n = |i: usize| usize::from_str_radix(&id[i..i + 2], 16).unwrap_or(0);
    format!(
        "{}_{}_{}",
        LEFT[n(0) % LEFT.len()],
        RIGHT[n(2) % RIGHT.len()],
        &id[4..8]
    )
}

/// 32 random bytes as 64 hex digits (Docker's id format).
fn random_id() -> Result<String> {
    use std::io::Read;
    let path = Path::new("/dev/urandom");
    let mut bytes = [0u8; 32];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(io_err(path))?;
    Ok(hex::encode(bytes))
}

/// A mount left at `merged` by a killed strata (its FUSE server gone, so
/// every access fails with ENOTCONN): detached lazily. Nothing mounted there
/// is the normal case and not an error.
pub(crate) fn detach_stale_mount(merged: &Path) {
    let _ = nix::mount::umount2(merged, nix::mount::MntFlags::MNT_DETACH);
}
