//! Merging the listings of the layers of a directory.
//!
//! The merge is a pure function over per-layer listings (top-most first):
//! the first layer naming an entry wins, whiteouts (0/0 char devices and
//! `.wh.<name>` files) hide the name in the layers below, and markers are
//! never listed.
//!
//! Positions (the `d_off` cookies) are stable: an entry's cookie is a hash
//! of its name, the same for every open of the directory, and a listing is
//! ordered by cookie, so "the entries after cookie c" means the same thing
//! to every handle (what the kernel's listing cache, FOPEN_CACHE_DIR,
//! assumes when it appends a page read through one handle to pages read
//! through another).

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use fuser::FileType;

use crate::layers::Layer;
use crate::{layers, markers};

/// One name in one layer's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw {
    pub name: OsString,
    /// `None` for a whiteout of `name`.
    pub kind: Option<FileType>,
    /// Backing inode number (st_ino) in that layer.
    pub ino: u64,
}

/// One visible entry of a merged directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: OsString,
    pub kind: FileType,
    pub ino: u64,
    /// The layer the listing found it in (None for `.` and `..`).
    pub layer: Option<Layer>,
    /// Its position: a listing continued from cookie `c` holds the
    /// entries with `off > c` (see `order`).
    pub off: u64,
    /// Removed since the snapshot was taken (`Listing::remove`).
    pub gone: bool,
}

/// Cookie of `.`, the first entry (a listing from 0 starts with it).
pub const DOT: u64 = 1;
/// Cookie of `..`.
pub const DOTDOT: u64 = 2;
/// The smallest cookie of a name.
const FIRST: u64 = 3;

/// The home cookie of `name`: a 62-bit hash above the cookies of `.` and
/// `..`. Cookies stay below 2^63 (the kernel's loff_t is signed), with
/// 2^62 values of headroom for the probing of colliding names in `order`.
/// `DefaultHasher::new()` (SipHash with fixed keys): the same name gets
/// the same cookie for the life of the process, whichever handle lists it.
pub fn name_cookie(name: &OsStr) -> u64 {
    use std::hash::Hasher;
    let mut h = std::hash::DefaultHasher::new();
    h.write(name.as_bytes());
    FIRST + (h.finish() >> 2)
}

/// Sorts the entries of a listing (no `.`/`..`) by cookie and gives each
/// its cookie: its home `hash(name)`, or, for names whose home cookies
/// collide, the next free one (names ordered by their bytes within a
/// collision, so a given set of names always gets the same cookies).
/// A name that shares no home cookie keeps its hash whatever else is in
/// the directory. Colliding names (about n^2/2^63 of a directory of n
/// names) keep their cookies within one open (`Listing` patches in
/// place), but a snapshot taken after a colliding name came or went may
/// give them other cookies: across opens (a kernel cache filled through
/// two handles, seekdir to another open's position) only such names can
/// be repeated or missed by a listing that runs across that change.
pub fn order(entries: &mut [Entry], hash: impl Fn(&OsStr) -> u64) {
    for e in entries.iter_mut() {
        e.off = hash(&e.name);
    }
    entries.sort_unstable_by(|a, b| a.off.cmp(&b.off).then_with(|| a.name.cmp(&b.name)));
    let mut last = DOTDOT;
    for e in entries.iter_mut() {
        e.off = e.off.max(last + 1);
        last = e.off;
    }
}

/// The index of the first entry after cookie `offset` in a listing
/// ordered by cookie.
pub fn after(entries: &[Entry], offset: u64) -> usize {
    entries.partition_point(|e| e.off <= offset)
}

/// Names added to a snapshot (`Listing::add`) before it is read anew.
const MAX_ADDED: usize = 1024;

/// The listing an open directory handle serves: a snapshot ordered by
/// cookie, kept up to date with the changes made through the mount since
/// it was taken, so that a handle opened before a change never hands the
/// kernel an entry that is gone or misses one that was made (the kernel
/// may append its reply to a cached listing begun after the change). A
/// removal marks the entry gone and an addition goes to a short side list,
/// each in O(log n): re-reading the directory at every change made a
/// read-and-delete loop over 100k entries (Go's `os.RemoveAll`, Python's
/// `scandir` + `unlink`) quadratic, 8.8 s -> 128 s.
#[derive(Debug, Default)]
pub struct Listing {
    /// The snapshot, ordered by cookie.
    entries: Vec<Entry>,
    /// Entries added since, ordered by cookie, none at a cookie of `entries`.
    added: Vec<Entry>,
}

impl Listing {
    pub fn new(entries: Vec<Entry>) -> Self {
        Listing {
            entries,
            added: Vec::new(),
        }
    }

    /// The number of entries held (gone ones included).
    pub fn len(&self) -> usize {
        self.entries.len() + self.added.len()
    }

    /// The present entries after cookie `offset`, in cookie order.
    pub fn after(&self, offset: u64) -> impl Iterator<Item = &Entry> {
        let mut a = self.entries[after(&self.entries, offset)..]
            .iter()
            .peekable();
        let mut b = self.added[after(&self.added, offset)..].iter().peekable();
        std::iter::from_fn(move || match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if y.off < x.off => b.next(),
            (Some(_), _) => a.next(),
            (None, _) => b.next(),
        })
        .filter(|e| !e.gone)
    }

    /// The entry named `name` whose home cookie is `home`: at `home` or,
    /// for a name that collided, in the run of consecutive cookies from it.
    fn find_mut<'a>(list: &'a mut [Entry], name: &OsStr, home: u64) -> Option<&'a mut Entry> {
        let start = list.partition_point(|e| e.off < home);
        list[start..]
            .iter_mut()
            .enumerate()
            .take_while(|(k, e)| e.off == home + *k as u64)
            .map(|(_, e)| e)
            .find(|e| e.name == name)
    }

    /// Marks `name` (home cookie `home`) gone. False if it is not listed.
    pub fn remove(&mut self, name: &OsStr, home: u64) -> bool {
        let found = match Self::find_mut(&mut self.entries, name, home) {
            Some(e) => Some(e),
            None => Self::find_mut(&mut self.added, name, home),
        };
        match found {
            Some(e) if !e.gone => {
                e.gone = true;
                true
            }
            _ => false,
        }
    }

    /// Lists `e` at its home cookie `e.off`, or, if other names hold that
    /// one, at the next free cookie after them (as `order` probes), or in
    /// place of an entry of the same name met on the way (a replaced or
    /// re-created name). The entries listed keep their cookies, so this
    /// handle never repeats or skips them. False if no cookie is free
    /// within `MAX_PROBE` or too many names were added: the caller then
    /// takes a new snapshot.
    pub fn add(&mut self, mut e: Entry) -> bool {
        const MAX_PROBE: u64 = 64;
        let home = e.off;
        while e.off < home + MAX_PROBE {
            let holder = [&mut self.entries, &mut self.added]
                .into_iter()
                .find_map(|list| {
                    let at = after(list, e.off - 1);
                    list.get_mut(at).filter(|o| o.off == e.off)
                });
            match holder {
                Some(old) if old.name == e.name => {
                    *old = e;
                    return true;
                }
                Some(_) => e.off += 1,
                None => {
                    if self.added.len() >= MAX_ADDED {
                        return false;
                    }
                    let at = after(&self.added, e.off);
                    self.added.insert(at, e);
                    return true;
                }
            }
        }
        false
    }
}

/// A visible entry and the layer it comes from, before inode numbering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub name: OsString,
    pub kind: FileType,
    pub layer: Layer,
    pub backing_ino: u64,
}

pub fn merge(listings: Vec<(Layer, Vec<Raw>)>) -> Vec<Merged> {
    let mut seen: HashSet<OsString> = HashSet::new();
    let mut out = Vec::new();
    for (layer, raws) in listings {
        let mut hidden_here = Vec::new();
        for raw in raws {
            if seen.contains(&raw.name) {
                continue;
            }
            match raw.kind {
                // A whiteout hides the name below, not beside it: collect and apply after the layer.
                None => hidden_here.push(raw.name),
                Some(kind) => {
                    seen.insert(raw.name.clone());
                    out.push(Merged {
                        name: raw.name,
                        kind,
                        layer,
                        backing_ino: raw.ino,
                    });
                }
            }
        }
        seen.extend(hidden_here);
    }
    out
}

fn kind_of(meta: &std::fs::Metadata) -> Option<FileType> {
    FileType::from_std(meta.file_type())
}

/// Reads one layer's directory `dir` as raw entries (markers turned into
/// whiteouts, the opaque marker dropped). A missing directory is empty.
pub fn read_layer(dir: &Path) -> io::Result<Vec<Raw>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if layers::is_absent(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent?;
        let name = ent.file_name();
        if markers::is_marker_name(&name) {
            if let Some(target) = markers::whiteout_target(&name) {
                out.push(Raw {
                    name: target.to_os_string(),
                    kind: None,
                    ino: 0,
                });
            }
            continue;
        }
        let ft = ent.file_type()?;
        let ino = std::os::unix::fs::DirEntryExt::ino(&ent);
        let kind = if ft.is_char_device() || FileType::from_std(ft).is_none() {
            match ent.path().symlink_metadata() {
                Ok(m) if markers::is_whiteout(&m) => None,
                Ok(m) => kind_of(&m),
                Err(e) if layers::is_absent(&e) => continue,
                Err(e) => return Err(e),
            }
        } else {
            FileType::from_std(ft)
        };
        out.push(Raw { name, kind, ino });
    }
    Ok(out)
}

/// Whether a name is too long for the layers (ENAMETOOLONG).
pub fn name_too_long(name: &OsStr) -> bool {
    name.as_bytes().len() > 255
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(name: &str, kind: Option<FileType>) -> Raw {
        Raw {
            name: name.into(),
            kind,
            ino: 7,
        }
    }

    #[test]
    fn merge_hides_whiteouts_and_duplicates() {
        let f = Some(FileType::RegularFile);
        let listings = vec![
            (Layer::Upper, vec![raw("a", f), raw("gone", None)]),
            (
                Layer::Lower(0),
                vec![
                    raw("a", Some(FileType::Directory)),
                    raw("gone", f),
                    raw("b", f),
                ],
            ),
            (Layer::Lower(1), vec![raw("b", None), raw("c", f)]),
        ];
        let names: Vec<(String, Layer)> = merge(listings)
            .into_iter()
            .map(|m| (m.name.to_string_lossy().into_owned(), m.layer))
            .collect();
        assert_eq!(
            names,
            vec![
                ("a".into(), Layer::Upper),
                ("b".into(), Layer::Lower(0)),
                ("c".into(), Layer::Lower(1))
            ]
        );
    }

    #[test]
    fn whiteout_does_not_hide_same_layer_entry() {
        let f = Some(FileType::RegularFile);
        let merged = merge(vec![(Layer::Lower(0), vec![raw("x", None), raw("x", f)])]);
        assert_eq!(merged.len(), 1);
    }

    #[test]
    fn reads_markers_from_disk() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join(".wh.foo"), "").unwrap();
        std::fs::write(t.path().join(".wh..wh..opq"), "").unwrap();
        std::fs::write(t.path().join("bar"), "").unwrap();
        let mut raws = read_layer(t.path()).unwrap();
        raws.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(raws.len(), 2);
        assert_eq!(raws[0].name, "bar");
        assert_eq!(raws[1].name, "foo");
        assert_eq!(raws[1].kind, None);
        assert!(read_layer(&t.path().join("missing")).unwrap().is_empty());
    }

    fn entry(name: &str) -> Entry {
        Entry {
            name: name.into(),
            kind: FileType::RegularFile,
            ino: 9,
            layer: Some(Layer::Upper),
            off: 0,
            gone: false,
        }
    }

    /// A 2-bit hash: 40 names share 4 home cookies, 100 apart.
    fn tiny(name: &OsStr) -> u64 {
        FIRST + (name_cookie(name) & 3) * 100
    }

    fn ordered(names: &[String]) -> Vec<Entry> {
        let mut v: Vec<Entry> = names.iter().map(|n| entry(n)).collect();
        order(&mut v, tiny);
        v
    }

    /// Pages through `entries` `page` entries at a time, each page
    /// continued from the cookie of the last entry of the one before.
    fn page_through(entries: &[Entry], page: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut pos = DOTDOT;
        loop {
            let start = after(entries, pos);
            let got: Vec<&Entry> = entries[start..].iter().take(page).collect();
            let Some(last) = got.last() else { break };
            pos = last.off;
            out.extend(got.iter().map(|e| e.name.to_string_lossy().into_owned()));
        }
        out
    }

    #[test]
    fn colliding_names_get_distinct_increasing_cookies() {
        let names: Vec<String> = (0..40).map(|i| format!("f{i}")).collect();
        let v = ordered(&names);
        assert!(v.windows(2).all(|w| w[0].off < w[1].off));
        assert!(v.iter().all(|e| e.off > DOTDOT && e.off < FIRST + 400));
        for page in [1, 3, 7, 40] {
            let mut got = page_through(&v, page);
            got.sort();
            let mut want = names.clone();
            want.sort();
            assert_eq!(got, want, "page {page}");
        }
        // The same set of names, listed in another order: the same cookies.
        let mut rev = names.clone();
        rev.reverse();
        let w = ordered(&rev);
        let cookies = |v: &[Entry]| -> Vec<(OsString, u64)> {
            v.iter().map(|e| (e.name.clone(), e.off)).collect()
        };
        assert_eq!(cookies(&v), cookies(&w));
    }

    #[test]
    fn seek_to_a_cookie_continues_after_its_entry() {
        let names: Vec<String> = (0..40).map(|i| format!("g{i}")).collect();
        let v = ordered(&names);
        for (i, e) in v.iter().enumerate() {
            assert_eq!(after(&v, e.off), i + 1);
        }
        assert_eq!(after(&v, 0), 0);
        assert_eq!(after(&v, DOT), 0);
        assert_eq!(after(&v, u64::MAX), v.len());
    }

    #[test]
    fn unique_names_keep_their_cookie_whatever_else_is_listed() {
        let mut a = vec![entry("one"), entry("two")];
        let mut b = vec![entry("two"), entry("three"), entry("one")];
        order(&mut a, name_cookie);
        order(&mut b, name_cookie);
        let of = |v: &[Entry], n: &str| v.iter().find(|e| e.name == n).map(|e| e.off);
        assert_eq!(of(&a, "one"), Some(name_cookie(OsStr::new("one"))));
        assert_eq!(of(&a, "two"), of(&b, "two"));
        assert!(b.iter().all(|e| e.off > DOTDOT && e.off < 1 << 63));
    }

    fn names_after(l: &Listing, offset: u64) -> Vec<String> {
        l.after(offset)
            .map(|e| e.name.to_string_lossy().into_owned())
            .collect()
    }

    fn at_home(name: &str) -> Entry {
        Entry {
            off: tiny(OsStr::new(name)),
            ..entry(name)
        }
    }

    #[test]
    fn a_listing_follows_removals_and_additions_in_cookie_order() {
        let names: Vec<String> = (0..40).map(|i| format!("h{i}")).collect();
        let v = ordered(&names);
        let cookies: Vec<(OsString, u64)> = v.iter().map(|e| (e.name.clone(), e.off)).collect();
        let mut l = Listing::new(v);
        // Every colliding name can be found and removed, once.
        for (i, (name, _)) in cookies.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
            assert!(l.remove(name, tiny(name)), "remove {name:?} ({i})");
            assert!(!l.remove(name, tiny(name)), "removed twice: {name:?}");
        }
        let left: Vec<String> = cookies
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(_, (n, _))| n.to_string_lossy().into_owned())
            .collect();
        assert_eq!(names_after(&l, DOTDOT), left);
        // A removed name comes back at its cookie; a name whose home
        // cookie is free goes in between, in order; a taken one is refused.
        let (back, back_off) = cookies[0].clone();
        assert!(l.add(Entry {
            off: back_off,
            ..entry(&back.to_string_lossy())
        }));
        assert!(l.add(Entry {
            off: FIRST + 50,
            ..entry("between")
        }));
        // A name whose home another name holds goes to the next free
        // cookie after the run; the names listed keep theirs.
        let colliding = cookies.last().unwrap().0.to_string_lossy().into_owned() + "x";
        assert!(l.add(at_home(&colliding)));
        let kept: Vec<(OsString, u64)> = l
            .after(0)
            .filter(|e| e.name != *colliding && e.name != "between")
            .map(|e| (e.name.clone(), e.off))
            .collect();
        let want: Vec<(OsString, u64)> = cookies
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0 || *i == 0)
            .map(|(_, c)| c.clone())
            .collect();
        assert_eq!(kept, want, "cookies moved");
        let mut full = Listing::new(ordered(&names));
        let probes: Vec<bool> = (0..70)
            .map(|i| {
                full.add(Entry {
                    off: cookies[0].1,
                    ..entry(&format!("x{i}"))
                })
            })
            .collect();
        assert!(probes[0] && !probes[69], "probing is bounded");
        let all: Vec<&Entry> = l.after(0).collect();
        assert!(all.windows(2).all(|w| w[0].off < w[1].off));
        assert!(all.iter().any(|e| e.name == back));
        assert!(
            all.iter()
                .any(|e| e.name == "between" && e.off == FIRST + 50)
        );
        // Paging from any cookie continues after it.
        for (k, e) in all.iter().enumerate() {
            let rest: Vec<String> = all[k + 1..]
                .iter()
                .map(|e| e.name.to_string_lossy().into_owned())
                .collect();
            assert_eq!(names_after(&l, e.off), rest);
        }
    }

    #[test]
    fn additions_are_bounded() {
        let mut l = Listing::new(Vec::new());
        let mut refused = 0;
        for i in 0..MAX_ADDED + 10 {
            let name = format!("n{i}");
            let e = Entry {
                off: name_cookie(OsStr::new(&name)),
                ..entry(&name)
            };
            if !l.add(e) {
                refused += 1;
            }
        }
        assert_eq!(refused, 10);
        assert_eq!(l.len(), MAX_ADDED);
    }

    #[test]
    fn long_names() {
        assert!(!name_too_long(OsStr::new(&"x".repeat(255))));
        assert!(name_too_long(OsStr::new(&"x".repeat(256))));
    }
}
