//! The image commands through the `strata` binary on a busybox rootfs:
//! import (file, gzip, zstd, dir, stdin), ls, tag, rm, history, inspect.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;

use common::store::{
    busybox_rootfs, busybox_tarball, count_entries, spawn_strata, strata_err, strata_ok,
};

#[test]
fn import_busybox_then_ls_tag_history_inspect_rm() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    let tgz = busybox_tarball(work.path(), "--gzip");
    let id = strata_ok(
        &root,
        &[
            "image",
            "import",
            "-c",
            r#"CMD ["sh"]"#,
            "-m",
            "base",
            tgz.to_str().unwrap(),
            "busybox",
        ],
    );
    let id = id.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let short = &id[7..19];

    let ls = strata_ok(&root, &["image", "ls"]);
    let lines: Vec<&str> = ls.lines().collect();
    assert_eq!(lines.len(), 2, "{ls}");
    let head: Vec<&str> = lines[0]
        .split("  ")
        .filter(|s| !s.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(head, ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&row[..3], ["busybox", "latest", short], "{ls}");
    assert!(row.last().unwrap().ends_with("MB"), "{ls}");

    strata_ok(
        &root,
        &["image", "tag", "busybox", "127.0.0.1:5000/team/app:1"],
    );
    let q = strata_ok(&root, &["image", "ls", "-q"]);
    assert_eq!(q.trim(), short, "same image listed once by -q");
    let json = strata_ok(&root, &["image", "ls", "--format", "json"]);
    let repos: Vec<String> = json
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["Repository"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(repos.len(), 2);
    assert!(
        repos.contains(&"127.0.0.1:5000/team/app".to_string()),
        "{json}"
    );

    let hist = strata_ok(&root, &["image", "history", "busybox:latest"]);
    let hl: Vec<&str> = hist.lines().collect();
    assert!(
        hl[0].starts_with("IMAGE") && hl[0].contains("CREATED BY") && hl[0].contains("COMMENT")
    );
    assert!(
        hl[1].starts_with(short) && hl[1].trim_end().ends_with("base"),
        "{hist}"
    );

    let inspect = strata_ok(&root, &["image", "inspect", short]);
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    let img = &v[0];
    assert_eq!(img["Id"], id);
    assert_eq!(img["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    let tags = img["RepoTags"].as_array().unwrap();
    assert_eq!(tags.len(), 2, "{inspect}");
    // The layer's tree is the rootfs, in the store.
    let lower = img["GraphDriver"]["Data"]["LowerDir"].as_str().unwrap();
    assert!(std::path::Path::new(lower).join("bin/busybox").is_file());
    assert_eq!(
        std::fs::read_link(format!("{lower}/bin/sh"))
            .unwrap()
            .to_str(),
        Some("busybox")
    );

    // Untag while another tag remains, then delete with the last one.
    let out = strata_ok(&root, &["image", "rm", "busybox"]);
    assert_eq!(out, "Untagged: busybox:latest\n");
    let out = strata_ok(&root, &["image", "rm", "127.0.0.1:5000/team/app:1"]);
    assert_eq!(
        out,
        format!("Untagged: 127.0.0.1:5000/team/app:1\nDeleted: {id}\n")
    );
    assert_eq!(strata_ok(&root, &["image", "ls", "-q"]), "");
    assert_eq!(
        count_entries(&root.join("layers")),
        0,
        "layer removed with its image"
    );
    let err = strata_err(&root, &["image", "inspect", short]);
    assert!(err.contains("No such image"), "{err}");
}

#[test]
fn the_same_rootfs_gives_the_same_layer_from_any_source() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    let rootfs = work.path().join("busybox-rootfs");
    busybox_rootfs(&rootfs);
    let plain = busybox_tarball(work.path(), "");
    let zst = busybox_tarball(work.path(), "--zstd");
    strata_ok(
        &root,
        &["image", "import", plain.to_str().unwrap(), "bb:plain"],
    );
    strata_ok(
        &root,
        &["image", "import", zst.to_str().unwrap(), "bb:zstd"],
    );
    strata_ok(
        &root,
        &["image", "import", rootfs.to_str().unwrap(), "bb:dir"],
    );
    let mut child = spawn_strata(&root, &["image", "import", "-", "bb:stdin"]);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&zst).unwrap())
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());

    let layers: Vec<String> = ["plain", "zstd", "dir", "stdin"]
        .iter()
        .map(|t| {
            let out = strata_ok(&root, &["image", "inspect", &format!("bb:{t}")]);
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            v[0]["RootFS"]["Layers"][0].as_str().unwrap().to_string()
        })
        .collect();
    assert!(layers.iter().all(|l| *l == layers[0]), "{layers:?}");
    assert_eq!(count_entries(&root.join("layers")), 1);
    let check = strata_ok(&root, &["system", "check"]);
    assert!(
        check.contains("1 layers and 4 images verified, 0 problems"),
        "{check}"
    );
}

#[test]
fn system_prune_and_df() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    let tar = busybox_tarball(work.path(), "");
    let dangling = strata_ok(&root, &["image", "import", tar.to_str().unwrap()]);
    let df = strata_ok(&root, &["system", "df"]);
    assert!(df.lines().nth(1).unwrap().starts_with("Images"), "{df}");
    assert!(df.contains("(100%)"), "{df}");
    let ls = strata_ok(&root, &["image", "ls"]);
    assert!(ls.lines().nth(1).unwrap().starts_with("<none>"), "{ls}");
    // A config of its own (not just a later timestamp): two imports of the
    // same tar within one second would otherwise be the same image.
    strata_ok(
        &root,
        &[
            "image",
            "import",
            "-m",
            "keep",
            tar.to_str().unwrap(),
            "keep",
        ],
    );

    let out = strata_ok(&root, &["system", "prune", "-f"]);
    assert!(
        out.contains(&format!("deleted: {}", dangling.trim())),
        "{out}"
    );
    assert!(
        out.contains("Total reclaimed space: 0B"),
        "layer still used by keep: {out}"
    );
    assert_eq!(strata_ok(&root, &["image", "ls", "-q"]).lines().count(), 1);

    // Declining the prompt changes nothing.
    let mut child = spawn_strata(&root, &["system", "prune", "-a"]);
    child.stdin.take().unwrap().write_all(b"n\n").unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(strata_ok(&root, &["image", "ls", "-q"]).lines().count(), 1);

    // `image prune` keeps tagged images; `-a` takes every unused one.
    let out = strata_ok(&root, &["image", "prune", "-f"]);
    assert_eq!(out, "Total reclaimed space: 0B\n");
    let out = strata_ok(&root, &["system", "prune", "-a", "-f"]);
    assert!(out.contains("untagged: keep:latest"), "{out}");
    assert!(
        out.contains("Deleted Layers:") || count_entries(&root.join("layers")) == 0,
        "{out}"
    );
    assert_eq!(count_entries(&root.join("layers")), 0);
}
