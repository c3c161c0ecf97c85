//! Stage two: every instruction of the Dockerfile reference, typed.

use std::time::Duration;

use builder::dockerfile::{
    ArgDecl, Command, CommandLine, Healthcheck, KeyValue, MountType, NetworkMode, SecurityMode,
    Sharing,
};

use super::common::{ok, table};

fn cmd(src: &str) -> Command {
    ok(src).stages[0].instructions[0].command.clone()
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: v.into(),
    }
}

#[test]
fn from_platform_and_name() {
    let df = ok("FROM --platform=linux/arm64 golang:1.22 AS Build\nFROM build\nFROM scratch\n");
    let st = &df.stages;
    assert_eq!(st[0].platform.as_deref(), Some("linux/arm64"));
    assert_eq!(
        st[0].name.as_deref(),
        Some("build"),
        "stage names are lower-cased"
    );
    assert_eq!(
        st[0].base,
        builder::dockerfile::Base::Image("golang:1.22".into())
    );
    assert_eq!(st[1].base, builder::dockerfile::Base::Stage(0));
    assert_eq!(st[2].base, builder::dockerfile::Base::Scratch);
}

#[test]
fn run_flags_are_parsed_and_carried() {
    let c = cmd(
        "FROM a\nRUN --mount=type=cache,target=/root/.cache,id=c1,sharing=locked,mode=0755,uid=1 \\\n  --mount=type=bind,source=src,target=/src,rw \\\n  --mount=type=secret,id=tok,env=TOKEN,required \\\n  --mount=type=tmpfs,target=/tmp,size=64m \\\n  --mount=type=ssh \\\n  --mount=target=/ctx,from=busybox \\\n  --network=none --security=insecure make\n",
    );
    let Command::Run(r) = c else { panic!() };
    assert_eq!(r.command, CommandLine::Shell("make".into()));
    assert_eq!(r.network, Some(NetworkMode::None));
    assert_eq!(r.security, Some(SecurityMode::Insecure));
    let m = &r.mounts;
    assert_eq!(m.len(), 6);
    assert_eq!(m[0].kind, MountType::Cache);
    assert_eq!(m[0].target.as_deref(), Some("/root/.cache"));
    assert_eq!(m[0].id.as_deref(), Some("c1"));
    assert_eq!(m[0].sharing, Some(Sharing::Locked));
    assert_eq!((m[0].mode, m[0].uid), (Some(0o755), Some(1)));
    assert!(!m[0].read_only, "cache mounts are writable by default");
    assert_eq!(m[1].kind, MountType::Bind);
    assert!(!m[1].read_only, "rw given");
    assert_eq!(m[1].source.as_deref(), Some("src"));
    assert_eq!(m[2].kind, MountType::Secret);
    assert_eq!(m[2].env.as_deref(), Some("TOKEN"));
    assert!(m[2].required && m[2].read_only);
    assert_eq!(m[3].size, Some(64 << 20));
    assert_eq!(m[4].kind, MountType::Ssh);
    assert_eq!(m[5].kind, MountType::Bind, "bind is the default type");
    assert!(m[5].read_only, "bind mounts are read-only by default");
    assert_eq!(m[5].from.as_deref(), Some("busybox"));
}

#[test]
fn rendering_of_every_instruction() {
    table(&[
        ("FROM a\nRUN echo hi\n", &["FROM a", "RUN echo hi"]),
        (
            "FROM a\nRUN [\"echo\", \"hi\"]\n",
            &["FROM a", "RUN [\"echo\",\"hi\"]"],
        ),
        ("FROM a\nCMD echo hi\n", &["FROM a", "CMD echo hi"]),
        (
            "FROM a\nLABEL a=b \"c d\"=\"e f\"\n",
            &["FROM a", "LABEL a=b \"c d\"=\"e f\""],
        ),
        (
            "FROM a\nEXPOSE 80 443/tcp\n",
            &["FROM a", "EXPOSE 80 443/tcp"],
        ),
        (
            "FROM a\nENV A=1 B=\"two words\"\n",
            &["FROM a", "ENV A=1 B=\"two words\""],
        ),
        (
            "FROM a\nENV A two words\n",
            &["FROM a", "ENV A=\"two words\""],
        ),
        (
            "FROM a\nADD --chown=1:2 --chmod=644 --link --checksum=sha256:abc --keep-git-dir --unpack=false --exclude=*.md x y /d/\n",
            &[
                "FROM a",
                "ADD --chown=1:2 --chmod=644 --checksum=sha256:abc --link --keep-git-dir --unpack=false --exclude=*.md x y /d/",
            ],
        ),
        (
            "FROM a AS s\nFROM a\nCOPY --from=s --parents --link=false --exclude=a --exclude=b x /d\n",
            &[
                "FROM a AS s",
                "FROM a",
                "COPY --from=s --parents --exclude=a --exclude=b x /d",
            ],
        ),
        (
            "FROM a\nCOPY [\"a b\", \"/c d/\"]\n",
            &["FROM a", "COPY \"a b\" \"/c d/\""],
        ),
        (
            "FROM a\nENTRYPOINT [\"/e\"]\n",
            &["FROM a", "ENTRYPOINT [\"/e\"]"],
        ),
        (
            "FROM a\nVOLUME [\"/a\", \"/b\"]\n",
            &["FROM a", "VOLUME /a /b"],
        ),
        ("FROM a\nVOLUME /a /b\n", &["FROM a", "VOLUME /a /b"]),
        ("FROM a\nUSER app:app\n", &["FROM a", "USER app:app"]),
        (
            "FROM a\nWORKDIR /srv/app\n",
            &["FROM a", "WORKDIR /srv/app"],
        ),
        ("FROM a\nARG A B=2\n", &["FROM a", "ARG A B=2"]),
        (
            "FROM a\nONBUILD RUN echo x\n",
            &["FROM a", "ONBUILD RUN echo x"],
        ),
        (
            "FROM a\nSTOPSIGNAL SIGTERM\n",
            &["FROM a", "STOPSIGNAL SIGTERM"],
        ),
        ("FROM a\nSTOPSIGNAL 9\n", &["FROM a", "STOPSIGNAL 9"]),
        (
            "FROM a\nHEALTHCHECK NONE\n",
            &["FROM a", "HEALTHCHECK NONE"],
        ),
        (
            "FROM a\nHEALTHCHECK --interval=1m30s --timeout=500ms --start-period=5s --start-interval=1s --retries=3 CMD curl -f x\n",
            &[
                "FROM a",
                "HEALTHCHECK --interval=90s --timeout=500ms --start-period=5s --start-interval=1s --retries=3 CMD curl -f x",
            ],
        ),
        (
            "FROM a\nSHELL [\"bash\", \"-c\"]\n",
            &["FROM a", "SHELL [\"bash\",\"-c\"]"],
        ),
        (
            "FROM a\nMAINTAINER Jane <j@x>\n",
            &["FROM a", "MAINTAINER Jane <j@x>"],
        ),
        // Keywords are case-insensitive.
        (
            "from a\nrun x\nCoPy a b\n",
            &["FROM a", "RUN x", "COPY a b"],
        ),
        // A lone `--` ends the flags.
        (
            "FROM a\nRUN -- --not-a-flag\n",
            &["FROM a", "RUN --not-a-flag"],
        ),
    ]);
}

#[test]
fn typed_fields() {
    assert_eq!(
        cmd("FROM a\nLABEL \"com.x\"=\"y z\" k='v' e=\"\"\n"),
        Command::Label(vec![kv("com.x", "y z"), kv("k", "v"), kv("e", "")])
    );
    assert_eq!(
        cmd("FROM a\nARG A B=\"x y\" C=\n"),
        Command::Arg(vec![
            ArgDecl {
                name: "A".into(),
                default: None
            },
            ArgDecl {
                name: "B".into(),
                default: Some("x y".into())
            },
            ArgDecl {
                name: "C".into(),
                default: Some(String::new())
            },
        ])
    );
    let Command::Copy(t) = cmd("FROM a\nCOPY --chown=app --chmod=0755 a b c/ /dst/\n") else {
        panic!()
    };
    assert_eq!(t.sources, vec!["a", "b", "c/"]);
    assert_eq!(t.dest, "/dst/");
    assert_eq!(
        (t.chown.as_deref(), t.chmod.as_deref()),
        (Some("app"), Some("0755"))
    );
    let Command::Healthcheck(h) = cmd("FROM a\nHEALTHCHECK --interval=5s CMD [\"pg_isready\"]\n")
    else {
        panic!()
    };
    assert_eq!(h.test(), vec!["CMD", "pg_isready"]);
    let Healthcheck::Check {
        interval, retries, ..
    } = &h
    else {
        panic!()
    };
    assert_eq!((*interval, *retries), (Some(Duration::from_secs(5)), None));
    let Command::Healthcheck(h) = cmd("FROM a\nHEALTHCHECK CMD curl x || exit 1\n") else {
        panic!()
    };
    assert_eq!(h.test(), vec!["CMD-SHELL", "curl x || exit 1"]);
    let Command::Onbuild(o) = cmd("FROM a\nONBUILD COPY <<EOF /x\nhi\nEOF\n") else {
        panic!()
    };
    assert_eq!(o.expression, "COPY <<EOF /x\nhi\nEOF");
    assert!(matches!(*o.trigger, Command::Copy(_)));
    // ONBUILD triggers are not expanded: they run in the child build.
    let Command::Onbuild(o) = cmd("FROM a\nONBUILD ENV X=$Y\n") else {
        panic!()
    };
    assert_eq!(*o.trigger, Command::Env(vec![kv("X", "$Y")]));
    assert_eq!(
        cmd("FROM a\nVOLUME [\" /v \"]\n"),
        Command::Volume(vec!["/v".into()])
    );
}
