//! FUSE passthrough and kernel caching: the same results with passthrough
//! on and off, copy-up with files open through passthrough, and changes
//! seen at once by other processes although entries and attributes are
//! cached. Integration tests: root + /dev/fuse + a kernel with
//! CONFIG_FUSE_PASSTHROUGH (Linux >= 6.9).
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirEntryExt, FileExt, MetadataExt};
use std::process::Command;

use common::*;

/// Everything a program sees after a fixed series of reads, writes,
/// copy-ups, mmap writes and truncations.
fn workload(on: bool) -> Vec<String> {
    let l = layers(2);
    let big: Vec<u8> = (0..(3u32 << 20)).map(|i| (i % 253) as u8).collect();
    fs::write(l.lower(1, "big"), &big).unwrap();
    l.file(0, "small", "lower\n");
    l.file(1, "d/deep", "deep\n");
    let u = l.mount_passthrough(on);
    let mut seen = Vec::new();
    let mut note = |s: String| seen.push(s);

    // Reads of a lower file, whole and at offsets.
    assert!(fs::read(u.m("big")).unwrap() == big);
    let f = File::open(u.m("big")).unwrap();
    let mut buf = vec![0u8; 4096];
    f.read_exact_at(&mut buf, (2 << 20) + 17).unwrap();
    note(format!("pread {:?}", &buf[..8]));
    drop(f);

    // Append (copy-up), then size and content through stat and read.
    let mut a = OpenOptions::new().append(true).open(u.m("small")).unwrap();
    a.write_all(b"appended\n").unwrap();
    note(format!(
        "fstat after append {}",
        a.metadata().unwrap().len()
    ));
    drop(a);
    note(format!(
        "stat {}",
        fs::metadata(u.m("small")).unwrap().len()
    ));
    note(fs::read_to_string(u.m("small")).unwrap());
    note(fs::read_to_string(u.upper("small")).unwrap());

    // A new file: write, mmap-write, read back, size and mtime move.
    let mut n = File::create(u.m("new")).unwrap();
    n.write_all(&[b'a'; 10000]).unwrap();
    n.flush().unwrap();
    let m = OpenOptions::new()
        .read(true)
        .write(true)
        .open(u.m("new"))
        .unwrap();
    common::sys::mmap_write(&m, 8192, 4096, b"MMAP").unwrap();
    drop(m);
    n.seek(SeekFrom::Start(20000)).unwrap();
    n.write_all(b"end").unwrap();
    drop(n);
    let meta = fs::metadata(u.m("new")).unwrap();
    note(format!("new size {}", meta.len()));
    let mut data = Vec::new();
    File::open(u.m("new"))
        .unwrap()
        .read_to_end(&mut data)
        .unwrap();
    note(format!(
        "new {:?} {:?} {:?}",
        &data[4094..4102],
        &data[10000..10004],
        &data[20000..]
    ));
    assert!(fs::read(u.upper("new")).unwrap() == data);

    // Truncate a lower file by path (copy-up), then through an open file.
    let t = OpenOptions::new().write(true).open(u.m("big")).unwrap();
    t.set_len(1000).unwrap();
    note(format!(
        "truncated {}",
        fs::metadata(u.m("big")).unwrap().len()
    ));
    drop(t);
    fs::write(u.m("d/deep"), "rewritten\n").unwrap();
    note(fs::read_to_string(u.m("d/deep")).unwrap());
    note(format!("{:?}", u.ls("")));
    seen
}

#[test]
fn passthrough_on_and_off_give_the_same_results() {
    let on = workload(true);
    let off = workload(false);
    assert_eq!(on, off);
    assert!(on.contains(&"new size 20003".to_string()), "{on:?}");
}

/// A lower file is read through the daemon, so an open from before a
/// copy-up follows the file to its copy (as with kernel overlayfs), and
/// once every open of it is closed its copy's opens go through passthrough.
#[test]
fn with_passthrough_a_read_only_open_follows_its_file_up() {
    let l = layers(1);
    l.file(0, "f", "old");
    let u = l.mount_passthrough(true);
    let ro = File::open(u.m("f")).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(ro.read_at(&mut buf, 0).unwrap(), 3);
    fs::write(u.m("f"), "new content").unwrap();
    let n = ro.read_at(&mut buf, 0).unwrap();
    assert_eq!(&buf[..n], b"new content");
    let mut w = OpenOptions::new().append(true).open(u.m("f")).unwrap();
    w.write_all(b"!").unwrap();
    let n = ro.read_at(&mut buf, 0).unwrap();
    assert_eq!(&buf[..n], b"new content!");
    drop((ro, w));
    // Every open closed: new opens of the copy may now use passthrough.
    let w = OpenOptions::new().write(true).open(u.m("f")).unwrap();
    w.write_all_at(b"N", 0).unwrap();
    assert_eq!(fs::read_to_string(u.m("f")).unwrap(), "New content!");
    assert_eq!(fs::read_to_string(u.upper("f")).unwrap(), "New content!");
    assert_eq!(fs::read_to_string(u.lower(0, "f")).unwrap(), "old");
}

#[test]
fn an_upper_file_open_for_reading_sees_writes_of_another_open() {
    let l = layers(1);
    l.file(0, "f", "0123456789");
    let u = l.mount_passthrough(true);
    fs::write(u.m("f"), "abcdefghij").unwrap();
    let ro = File::open(u.m("f")).unwrap();
    let w = OpenOptions::new().write(true).open(u.m("f")).unwrap();
    w.write_all_at(b"XY", 3).unwrap();
    let mut buf = [0u8; 10];
    ro.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"abcXYfghij");
}

fn sh(script: &str) -> String {
    let out = Command::new("sh").args(["-c", script]).output().unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn other_processes_see_changes_at_once_with_caching_on() {
    let l = layers(2);
    l.file(0, "d/a", "a");
    l.file(1, "d/b", "b");
    l.file(1, "d/hidden", "h");
    let u = l.mount();
    let d = u.m("d");
    let d = d.display();
    // Fill the kernel's caches: entries, attributes, negative entries.
    assert_eq!(sh(&format!("ls {d}")), "a\nb\nhidden\n");
    assert!(!u.m("d/missing").exists());
    assert_eq!(fs::metadata(u.m("d/a")).unwrap().len(), 1);

    // Each change by one process is visible to the next one at once.
    sh(&format!("echo created > {d}/missing"));
    assert_eq!(sh(&format!("cat {d}/missing")), "created\n");
    sh(&format!("rm {d}/hidden"));
    assert_eq!(sh(&format!("ls {d}")), "a\nb\nmissing\n");
    assert!(!u.m("d/hidden").exists());
    sh(&format!("echo longer > {d}/a"));
    assert_eq!(sh(&format!("stat -c %s {d}/a")), "7\n");
    sh(&format!("mv {d}/b {d}/c"));
    assert_eq!(sh(&format!("ls {d}")), "a\nc\nmissing\n");
    assert_eq!(sh(&format!("cat {d}/c")), "b");
    sh(&format!("chmod 600 {d}/c"));
    assert_eq!(sh(&format!("stat -c %a {d}/c")), "600\n");
    sh(&format!("mkdir {d}/hidden && touch {d}/hidden/x"));
    assert_eq!(sh(&format!("ls {d}/hidden")), "x\n");
}

#[test]
fn hard_link_copy_up_is_seen_through_the_other_name() {
    let l = layers(1);
    l.file(0, "a", "shared");
    fs::hard_link(l.lower(0, "a"), l.lower(0, "b")).unwrap();
    let u = l.mount();
    let before = fs::metadata(u.m("b")).unwrap();
    assert_eq!(before.nlink(), 2);
    fs::write(u.m("a"), "changed through a").unwrap();
    let after = fs::metadata(u.m("b")).unwrap();
    assert_eq!(after.ino(), before.ino());
    assert_eq!(after.nlink(), 2);
    assert_eq!(after.len(), 17);
    assert_eq!(fs::read_to_string(u.m("b")).unwrap(), "changed through a");
}

/// Listings come with attributes (readdirplus): what they report must be
/// what stat says, and the references they hand out must be counted so
/// removing the entries afterwards works.
#[test]
fn listings_with_attributes_match_stat() {
    let l = layers(2);
    for i in 0..600 {
        l.file(i % 2, &format!("d/f{i}"), &"x".repeat(i));
    }
    let u = l.mount();
    for round in 0..2 {
        let mut n = 0;
        for e in fs::read_dir(u.m("d")).unwrap() {
            let e = e.unwrap();
            let meta = fs::symlink_metadata(e.path()).unwrap();
            let i: usize = e.file_name().to_str().unwrap()[1..].parse().unwrap();
            assert_eq!(meta.len() as usize, i, "round {round}");
            assert_eq!(e.ino(), meta.ino());
            n += 1;
        }
        assert_eq!(n, 600);
    }
    for i in (0..600).step_by(3) {
        fs::remove_file(u.m(&format!("d/f{i}"))).unwrap();
    }
    assert_eq!(u.ls("d").len(), 400);
    assert!(!u.m("d/f0").exists());
    assert_eq!(fs::metadata(u.m("d/f1")).unwrap().len(), 1);
}

/// A read-only union copies nothing up, so its lower files are read with
/// passthrough; reads, mmap and listings give the layers' bytes.
#[test]
fn read_only_union_reads_lower_files() {
    let l = layers(2);
    let data: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 241) as u8).collect();
    fs::write(l.lower(1, "big"), &data).unwrap();
    l.file(0, "small", "top");
    let u = l.mount_ro();
    assert!(fs::read(u.m("big")).unwrap() == data);
    let f = File::open(u.m("big")).unwrap();
    let g = File::open(u.m("big")).unwrap();
    let mut buf = [0u8; 5];
    f.read_exact_at(&mut buf, 4000).unwrap();
    assert_eq!(&buf[..], &data[4000..4005]);
    g.read_exact_at(&mut buf, 999_000).unwrap();
    assert_eq!(&buf[..], &data[999_000..999_005]);
    assert_eq!(fs::read_to_string(u.m("small")).unwrap(), "top");
    let err = OpenOptions::new()
        .write(true)
        .open(u.m("small"))
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EROFS));
}

/// Bytes of `p` in the page cache (util-linux `fincore`).
fn resident_bytes(p: &std::path::Path) -> u64 {
    let out = Command::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .arg(p)
        .output()
        .expect("fincore (util-linux) is needed");
    assert!(out.status.success(), "fincore: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// A read-only open of a lower file starts reading its head before the
/// first READ (the data comes through the daemon, a round trip after the
/// OPEN reply): the lower file's pages come into the page cache although
/// nothing reads through the open file. An open for writing copies up
/// and reads the whole file anyway, so only read-only opens are checked.
#[test]
fn a_read_only_open_of_a_lower_file_starts_reading_it() {
    use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};
    let l = layers(1);
    let p = l.lower(0, "f");
    fs::write(&p, vec![7u8; 64 << 10]).unwrap();
    let lower = File::open(&p).unwrap();
    lower.sync_all().unwrap();
    posix_fadvise(&lower, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED).unwrap();
    assert_eq!(resident_bytes(&p), 0, "the lower file stays cached");
    let u = l.mount();
    let _open = File::open(u.m("f")).unwrap();
    // The read was started before the open returned; its end is polled
    // for (fincore counts pages once read), without a time limit to test.
    let mut resident = 0;
    for _ in 0..3000 {
        resident = resident_bytes(&p);
        if resident == 64 << 10 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        resident,
        64 << 10,
        "the open did not start reading the file"
    );
}
