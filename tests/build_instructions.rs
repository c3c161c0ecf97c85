//! Each instruction's effect on the built image: files, config, history.
//! Needs root and /dev/fuse.
#![allow(clippy::unwrap_used)]

mod build_util;
mod common;

use std::os::unix::fs::MetadataExt;

use build_util::{Fixture, path_exists};

#[test]
fn instructions_shape_config_files_and_history() {
    let f = Fixture::new();
    f.write(
        "Dockerfile",
        r#"FROM busybox
ARG GREETING=hi
ENV NAME=world
WORKDIR /app
RUN echo "$GREETING $NAME" > greeting && pwd > where
COPY --chown=1000:2000 --chmod=600 secret ./
COPY dir /srv/
LABEL a=b
EXPOSE 80 53/udp
USER 1000
VOLUME /data
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s CMD true
ONBUILD RUN echo child
ENTRYPOINT ["/bin/sh"]
CMD ["-c", "cat greeting"]
"#,
    );
    f.write("secret", "s3");
    f.write("dir/a", "A");
    f.write("dir/sub/b", "B");
    let (id, _) = f.build_ok(&["-t", "shaped", "--label", "extra=yes"]);
    assert_eq!(f.read(&id, "/app/greeting"), "hi world\n");
    assert_eq!(f.read(&id, "/app/where"), "/app\n");
    let secret = std::fs::metadata(f.file(&id, "/app/secret").unwrap()).unwrap();
    assert_eq!(
        (secret.uid(), secret.gid(), secret.mode() & 0o7777),
        (1000, 2000, 0o600)
    );
    assert_eq!(f.read(&id, "/srv/a"), "A");
    assert_eq!(f.read(&id, "/srv/sub/b"), "B");
    let a = std::fs::metadata(f.file(&id, "/srv/a").unwrap()).unwrap();
    assert_eq!((a.uid(), a.gid()), (0, 0));

    let v = f.inspect("shaped");
    let c = &v["Config"];
    assert_eq!(c["Env"][0], "NAME=world");
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["User"], "1000");
    assert_eq!(c["Labels"]["a"], "b");
    assert_eq!(c["Labels"]["extra"], "yes");
    assert!(c["ExposedPorts"]["80/tcp"].is_object());
    assert!(c["ExposedPorts"]["53/udp"].is_object());
    assert!(c["Volumes"]["/data"].is_object());
    assert_eq!(c["StopSignal"], "SIGINT");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh"]));
    assert_eq!(c["Cmd"], serde_json::json!(["-c", "cat greeting"]));

    // The raw config: history, healthcheck and onbuild.
    let raw = f.raw_config(&id);
    assert_eq!(
        raw["config"]["OnBuild"],
        serde_json::json!(["RUN echo child"])
    );
    assert_eq!(
        raw["config"]["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "true"])
    );
    assert_eq!(raw["config"]["Healthcheck"]["Interval"], 5_000_000_000u64);
    let history = raw["history"].as_array().unwrap();
    // busybox import (1) + 15 instructions.
    assert_eq!(history.len(), 16);
    let with_layer: Vec<&str> = history[1..]
        .iter()
        .filter(|h| h["empty_layer"] != true)
        .map(|h| h["created_by"].as_str().unwrap())
        .collect();
    assert_eq!(with_layer.len(), 4, "{with_layer:?}"); // WORKDIR, RUN, 2 COPY
    assert!(
        with_layer[1].starts_with("RUN |1 GREETING=hi /bin/sh -c echo"),
        "{with_layer:?}"
    );
    assert!(
        history[2]["created_by"]
            .as_str()
            .unwrap()
            .ends_with("#(nop) ENV NAME=world")
    );
    // 1 base + WORKDIR + RUN + 2 COPY layers.
    assert_eq!(v["RootFS"]["Layers"].as_array().unwrap().len(), 5);
}

#[test]
fn run_layer_holds_only_the_changes() {
    let f = Fixture::new();
    f.write(
        "Dockerfile",
        "FROM busybox\nRUN rm /bin/vi && echo x > /new\n",
    );
    let (id, _) = f.build_ok(&[]);
    let top = f.layers(&id)[0].clone();
    let mut names: Vec<String> = std::fs::read_dir(&top)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // No /dev, /proc, /sys, /etc/hosts mount points of the runtime.
    assert_eq!(names, ["bin", "new"], "{names:?}");
    // `rm` left a whiteout (0/0 char device), the bin dir is not opaque.
    use std::os::unix::fs::FileTypeExt;
    let wh = std::fs::symlink_metadata(top.join("bin/vi")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    assert!(!path_exists(&top.join("bin/.wh..wh..opq")));
    assert_eq!(std::fs::read_dir(top.join("bin")).unwrap().count(), 1);
}

#[test]
fn add_extracts_local_tars_and_copy_does_not() {
    let f = Fixture::new();
    let src = f.work.path().join("tree");
    std::fs::create_dir_all(src.join("t")).unwrap();
    std::fs::write(src.join("t/inner"), "in").unwrap();
    let st = std::process::Command::new("tar")
        .args(["--gzip", "-C"])
        .arg(&src)
        .arg("-cf")
        .arg(f.ctx.join("a.tgz"))
        .arg("t")
        .status()
        .unwrap();
    assert!(st.success());
    f.write(
        "Dockerfile",
        "FROM busybox\nADD a.tgz /x/\nCOPY a.tgz /y/\n",
    );
    let (id, _) = f.build_ok(&[]);
    assert_eq!(f.read(&id, "/x/t/inner"), "in");
    assert!(f.file(&id, "/y/a.tgz").is_some());
}

#[test]
fn dockerignore_filters_the_context() {
    let f = Fixture::new();
    f.write(".dockerignore", "*.log\n!keep.log\nsecret/\n");
    f.write("a.log", "no");
    f.write("keep.log", "yes");
    f.write("secret/k", "no");
    f.write("src/main", "m");
    f.write(
        "Dockerfile",
        "FROM busybox\nCOPY . /c/\nCOPY *.log /logs/\n",
    );
    let (id, _) = f.build_ok(&[]);
    assert!(f.file(&id, "/c/a.log").is_none());
    assert!(f.file(&id, "/c/secret").is_none());
    assert_eq!(f.read(&id, "/c/keep.log"), "yes");
    assert_eq!(f.read(&id, "/c/src/main"), "m");
    assert!(f.file(&id, "/logs/a.log").is_none());
    assert_eq!(f.read(&id, "/logs/keep.log"), "yes");
}

/// Interfaces listed in a `/proc/net/dev` dump.
fn interfaces(dump: &str) -> Vec<String> {
    dump.lines()
        .skip(2)
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.trim().to_string()))
        .collect()
}

#[test]
fn network_none_for_run_and_for_the_build() {
    let host = interfaces(&std::fs::read_to_string("/proc/net/dev").unwrap());
    let f = Fixture::new();
    f.write(
        "Dockerfile",
        "FROM busybox\nRUN cat /proc/net/dev > /host\nRUN --network=none cat /proc/net/dev > /none\n",
    );
    let (id, _) = f.build_ok(&[]);
    assert_eq!(interfaces(&f.read(&id, "/host")), host);
    assert_eq!(interfaces(&f.read(&id, "/none")), ["lo"]);
    let (id, _) = f.build_ok(&["--network", "none"]);
    assert_eq!(interfaces(&f.read(&id, "/host")), ["lo"]);
}

#[test]
fn context_from_a_tar_on_stdin() {
    use std::io::Write;
    let f = Fixture::new();
    f.write("Dockerfile", "FROM busybox\nCOPY hello /hello\n");
    f.write("hello", "from stdin");
    let tar = std::process::Command::new("tar")
        .arg("-C")
        .arg(&f.ctx)
        .args(["-czf", "-", "."])
        .output()
        .unwrap();
    assert!(tar.status.success());
    let mut child = common::store::spawn_strata(&f.root, &["image", "build", "-q", "-"]);
    child.stdin.take().unwrap().write_all(&tar.stdout).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(f.read(&id, "/hello"), "from stdin");
}

#[test]
fn onbuild_triggers_run_in_the_child_and_shell_changes_run() {
    let f = Fixture::new();
    f.write(
        "Dockerfile",
        r#"FROM busybox
ONBUILD RUN echo triggered > /onbuilt
SHELL ["/bin/sh", "-c", "echo \"$0\" > /shell"]
RUN marker
"#,
    );
    let (parent, _) = f.build_ok(&["-t", "parent"]);
    assert!(
        f.file(&parent, "/onbuilt").is_none(),
        "trigger ran in the parent"
    );
    // The shell got `marker` as its $0: RUN went through SHELL.
    assert_eq!(f.read(&parent, "/shell"), "marker\n");
    assert_eq!(
        f.raw_config(&parent)["config"]["Shell"][2],
        "echo \"$0\" > /shell"
    );
    f.write("Dockerfile", "FROM parent\nENV X=1\n");
    let (child, _) = f.build_ok(&[]);
    // The trigger ran in the child, through the SHELL the child inherited.
    assert_eq!(f.read(&child, "/shell"), "echo triggered > /onbuilt\n");
    assert!(f.raw_config(&child)["config"].get("OnBuild").is_none());
}
