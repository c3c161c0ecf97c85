mod common;

#[test]
fn strata_version_prints_version() {
    let out = std::process::Command::new(common::bin("strata"))
        .arg("--version")
        .output()
        .expect("run strata");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("strata "), "unexpected: {text}");
}
