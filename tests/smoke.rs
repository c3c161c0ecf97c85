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

#[test]
fn completion_scripts_cover_the_command_tree() {
    for shell in ["bash", "zsh", "fish"] {
        let out = std::process::Command::new(common::bin("strata"))
            .args(["completion", shell])
            .output()
            .expect("run strata");
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        for word in ["image", "container", "build", "commit", "root"] {
            assert!(text.contains(word), "{shell} completion lacks {word}");
        }
    }
}
