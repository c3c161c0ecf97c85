//! Tables from distribution/reference's own tests (normalize_test.go,
//! reference_test.go): the same inputs must be accepted or refused here.

#![allow(clippy::unwrap_used)]

use super::*;

const VALID: &[&str] = &[
    "docker/docker",
    "library/debian",
    "debian",
    "docker.io/docker/docker",
    "docker.io/library/debian",
    "docker.io/debian",
    "index.docker.io/docker/docker",
    "index.docker.io/library/debian",
    "index.docker.io/debian",
    "127.0.0.1:5000/docker/docker",
    "127.0.0.1:5000/library/debian",
    "127.0.0.1:5000/debian",
    "192.168.0.1",
    "192.168.0.1:80",
    "192.168.0.1:8/debian",
    "192.168.0.2:25000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "[fc00::1]:5000/docker",
    "[fc00::1]:5000/docker/docker",
    "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
    "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "Docker/docker",
    "DOCKER/docker",
    "docker-rules/docker",
    "docker---rules/docker",
    "doc/docker",
    "d/docker",
    "jess/t",
    "dock__er/docker",
    "localhost/app",
    "localhost:5000/app:v1.0-rc_2",
    "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa",
    "xn--n3h.com:18080/foo",
    "test_com/foo",
];

const INVALID: &[&str] = &[
    "",
    "https://github.com/docker/docker",
    "docker/Docker",
    "-docker",
    "-docker/docker",
    "-docker.io/docker/docker",
    "docker///docker",
    "docker.io/docker/Docker",
    "docker.io/docker///docker",
    "[fc00::1]",
    "[fc00::1]:5000",
    "fc00::1:5000/debian",
    "[fe80::1%eth0]:5000/debian",
    "[2001:db8:3:4::192.0.2.33]:5000/debian",
    "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "docker-/docker",
    "-docker-/docker",
    "____/____",
    "_docker/_docker",
    "dock..er/docker",
    "dock_.er/docker",
    "dock-.er/docker",
    "docker/",
    "Uppercase",
    "ubuntu:",
    "ubuntu:-tag",
    "ubuntu:tag with space",
    "ubuntu@sha256:abc",
    "ubuntu@sha256",
    "a:b:c",
    "/ubuntu",
    "ubuntu/",
];

#[test]
fn docker_valid_names_parse() {
    for name in VALID {
        if let Err(e) = Reference::parse(name) {
            panic!("{name:?} should be valid: {e}");
        }
    }
}

#[test]
fn docker_invalid_names_are_refused_with_a_reason() {
    for name in INVALID {
        match Reference::parse(name) {
            Ok(r) => panic!("{name:?} should be invalid, parsed as {r:?}"),
            Err(e) => assert!(
                e.to_string().starts_with("invalid reference format"),
                "{name:?}: {e}"
            ),
        }
    }
    let long = format!("{}/docker", "a".repeat(256));
    assert!(Reference::parse(&long).is_err());
    let long_tag = format!("ubuntu:{}", "t".repeat(129));
    assert!(Reference::parse(&long_tag).is_err());
}

#[test]
fn uppercase_repository_says_lowercase() {
    let err = Reference::parse("docker/Docker").unwrap_err().to_string();
    assert!(err.contains("must be lowercase"), "{err}");
}

/// (input, familiar name, full name, domain, path) from TestParseRepositoryInfo.
const INFO: &[(&str, &str, &str, &str, &str)] = &[
    (
        "fooo/bar",
        "fooo/bar",
        "docker.io/fooo/bar",
        "docker.io",
        "fooo/bar",
    ),
    (
        "index.docker.io/fooo/bar",
        "fooo/bar",
        "docker.io/fooo/bar",
        "docker.io",
        "fooo/bar",
    ),
    (
        "ubuntu",
        "ubuntu",
        "docker.io/library/ubuntu",
        "docker.io",
        "library/ubuntu",
    ),
    (
        "library/ubuntu",
        "ubuntu",
        "docker.io/library/ubuntu",
        "docker.io",
        "library/ubuntu",
    ),
    (
        "docker.io/library/ubuntu",
        "ubuntu",
        "docker.io/library/ubuntu",
        "docker.io",
        "library/ubuntu",
    ),
    (
        "nonlibrary/ubuntu",
        "nonlibrary/ubuntu",
        "docker.io/nonlibrary/ubuntu",
        "docker.io",
        "nonlibrary/ubuntu",
    ),
    (
        "other/library",
        "other/library",
        "docker.io/other/library",
        "docker.io",
        "other/library",
    ),
    (
        "127.0.0.1:8000/private/moonbase",
        "127.0.0.1:8000/private/moonbase",
        "127.0.0.1:8000/private/moonbase",
        "127.0.0.1:8000",
        "private/moonbase",
    ),
    (
        "127.0.0.1:8000/privatebase",
        "127.0.0.1:8000/privatebase",
        "127.0.0.1:8000/privatebase",
        "127.0.0.1:8000",
        "privatebase",
    ),
    (
        "example.com/private/moonbase",
        "example.com/private/moonbase",
        "example.com/private/moonbase",
        "example.com",
        "private/moonbase",
    ),
    (
        "example.com:8000/privatebasee",
        "example.com:8000/privatebasee",
        "example.com:8000/privatebasee",
        "example.com:8000",
        "privatebasee",
    ),
    (
        "ubuntu-12.04-base",
        "ubuntu-12.04-base",
        "docker.io/library/ubuntu-12.04-base",
        "docker.io",
        "library/ubuntu-12.04-base",
    ),
    (
        "docker.io/foo",
        "foo",
        "docker.io/library/foo",
        "docker.io",
        "library/foo",
    ),
    (
        "library/foo/bar",
        "library/foo/bar",
        "docker.io/library/foo/bar",
        "docker.io",
        "library/foo/bar",
    ),
    (
        "store/foo/bar",
        "store/foo/bar",
        "docker.io/store/foo/bar",
        "docker.io",
        "store/foo/bar",
    ),
    ("Foo/bar", "Foo/bar", "Foo/bar", "Foo", "bar"),
    ("FOO/bar", "FOO/bar", "FOO/bar", "FOO", "bar"),
    (
        "test.com/foo",
        "test.com/foo",
        "test.com/foo",
        "test.com",
        "foo",
    ),
    (
        "test-com:8080/foo",
        "test-com:8080/foo",
        "test-com:8080/foo",
        "test-com:8080",
        "foo",
    ),
    (
        "xn--n3h.com/foo",
        "xn--n3h.com/foo",
        "xn--n3h.com/foo",
        "xn--n3h.com",
        "foo",
    ),
];

#[test]
fn repository_info_matches_docker() {
    for (input, familiar, full, domain, path) in INFO {
        let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r.familiar_name(), *familiar, "{input}");
        assert_eq!(r.full_name(), *full, "{input}");
        assert_eq!(r.domain(), *domain, "{input}");
        assert_eq!(r.path(), *path, "{input}");
        assert_eq!(familiar_repository(full), *familiar, "{input}");
    }
}

#[test]
fn tags_and_digests_round_trip() {
    let short =
        "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa";
    let r = Reference::parse(short).unwrap();
    assert_eq!(r.full_string(), format!("docker.io/library/{short}"));
    assert_eq!(r.to_string(), short);
    assert_eq!(r.tag(), Some("latest"));

    let r = Reference::parse_tagged("ubuntu").unwrap();
    assert_eq!(r.full_string(), "docker.io/library/ubuntu:latest");
    assert_eq!(r.to_string(), "ubuntu:latest");

    let r = Reference::parse_tagged("127.0.0.1:5000/team/app:1").unwrap();
    assert_eq!(r.domain(), "127.0.0.1:5000");
    assert_eq!(r.tag(), Some("1"));
    assert_eq!(r.to_string(), "127.0.0.1:5000/team/app:1");

    let r = Reference::parse_tagged("localhost:5000/app").unwrap();
    assert_eq!(r.full_string(), "localhost:5000/app:latest");

    let r = Reference::parse_tagged(
        "redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c",
    )
    .unwrap();
    assert_eq!(r.tag(), None, "a digest reference gets no default tag");
}
