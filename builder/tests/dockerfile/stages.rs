//! Multi-stage builds: stages by index and name, --from, --target.

use builder::dockerfile::{Base, FromRef, ParseOptions};

use super::common::{errors_with, ok, ok_with};

const MULTI: &str = "\
FROM golang AS build
RUN go build
FROM build AS test
RUN go test
FROM alpine AS assets
RUN make assets
FROM debian AS final
COPY --from=build /app /app
COPY --from=2 /assets /assets
RUN --mount=type=bind,from=test,target=/t true
COPY --from=nginx:alpine /etc/nginx /etc/nginx
FROM final AS unrelated
";

fn target(t: &str) -> ParseOptions {
    ParseOptions {
        target: Some(t.into()),
        ..ParseOptions::default()
    }
}

#[test]
fn stages_by_index_and_name() {
    let df = ok(MULTI);
    assert_eq!(df.stages.len(), 5);
    assert_eq!(df.stage("TEST").map(|s| s.index), Some(1));
    assert_eq!(
        df.stage("2").and_then(|s| s.name.clone()).as_deref(),
        Some("assets")
    );
    assert_eq!(df.stages[1].base, Base::Stage(0));
    let fin = &df.stages[3].instructions;
    assert_eq!(fin[0].copy_from, Some(FromRef::Stage(0)));
    assert_eq!(fin[1].copy_from, Some(FromRef::Stage(2)));
    assert_eq!(fin[2].mount_from, vec![Some(FromRef::Stage(1))]);
    assert_eq!(
        fin[3].copy_from,
        Some(FromRef::Image("nginx:alpine".into()))
    );
}

#[test]
fn target_selects_the_stages_it_needs() {
    let df = ok(MULTI);
    assert_eq!(df.target, 4, "default: the last stage");
    assert_eq!(df.needed, vec![0, 1, 2, 3, 4]);
    let df = ok_with(MULTI, &target("final"));
    assert_eq!((df.target, df.needed.clone()), (3, vec![0, 1, 2, 3]));
    let df = ok_with(MULTI, &target("Test"));
    assert_eq!((df.target, df.needed.clone()), (1, vec![0, 1]));
    let df = ok_with(MULTI, &target("assets"));
    assert_eq!(df.needed, vec![2]);
    assert_eq!(
        errors_with(MULTI, &target("nope")),
        vec!["1:1: target stage \"nope\" could not be found"]
    );
}

#[test]
fn build_args_only_count_for_needed_stages() {
    let src = "FROM a AS one\nARG ONLY_ONE\nFROM a AS two\nARG ONLY_TWO\n";
    let mut opts = target("one");
    opts.build_args.insert("ONLY_TWO".into(), "x".into());
    opts.build_args.insert("ONLY_ONE".into(), "y".into());
    assert_eq!(
        ok_with(src, &opts).unused_build_args,
        vec!["ONLY_TWO".to_string()]
    );
}

#[test]
fn from_with_variables_and_self_named_stage() {
    // `FROM node AS node` refers to the image: a stage only sees earlier stages.
    let df = ok("FROM node AS node\nFROM node\n");
    assert_eq!(df.stages[0].base, Base::Image("node".into()));
    assert_eq!(df.stages[1].base, Base::Stage(0));
    let df = ok("ARG BASE=build\nFROM alpine AS build\nFROM ${BASE}\n");
    assert_eq!(df.stages[1].base, Base::Stage(0));
}

#[test]
fn onbuild_triggers_of_the_base_image_run_after_from() {
    let mut opts = ParseOptions::default();
    opts.base_onbuild.insert(
        "node:onbuild".into(),
        vec![
            "ARG NODE_ENV=production".into(),
            "COPY . /app".into(),
            "RUN npm i $NODE_ENV".into(),
        ],
    );
    opts.base_onbuild
        .insert("bad:onbuild".into(), vec!["COPY onlyone".into()]);
    let df = ok_with("FROM node:onbuild\nRUN echo $NODE_ENV\n", &opts);
    let got: Vec<(String, bool, usize)> = df.stages[0]
        .instructions
        .iter()
        .map(|i| (i.expanded.clone(), i.onbuild, i.lines.start))
        .collect();
    assert_eq!(
        got,
        vec![
            ("ARG NODE_ENV=production".to_string(), true, 1),
            ("COPY . /app".to_string(), true, 1),
            ("RUN npm i $NODE_ENV".to_string(), true, 1),
            ("RUN echo $NODE_ENV".to_string(), false, 2),
        ]
    );
    assert_eq!(
        errors_with("ARG X\nFROM bad:onbuild\n", &opts),
        vec![
            "2:1: ONBUILD \"COPY onlyone\" of bad:onbuild: COPY requires at least two arguments, but only one was provided. Destination could not be determined"
        ]
    );
}
