//! Warnings modelled on BuildKit's default build checks
//! (<https://docs.docker.com/reference/build-checks/>); the rule name ends
//! each message so users can look it up.

use super::diag::{Diagnostic, Severity, Sink};

/// ConsistentInstructionCasing: `Copy` is neither upper nor lower case.
pub(crate) fn keyword_casing(sink: &mut Sink, kw: &str, at: usize) {
    let upper = kw.to_ascii_uppercase();
    if kw != upper && kw != kw.to_ascii_lowercase() {
        sink.warn(
            at,
            format!("Command '{kw}' should be consistently cased: use {upper} (ConsistentInstructionCasing)"),
        );
    }
}

/// StageNameCasing: stage names are lower-cased by Docker.
pub(crate) fn stage_name_casing(sink: &mut Sink, name: &str, at: usize) {
    if name != name.to_ascii_lowercase() {
        sink.warn(
            at,
            format!("Stage name '{name}' should be lowercase (StageNameCasing)"),
        );
    }
}

/// SecretsUsedInArgOrEnv: ARG and ENV values end up in the image history.
pub(crate) fn secret_name(sink: &mut Sink, kw: &str, name: &str, at: usize) {
    const WORDS: [&str; 10] = [
        "apikey",
        "auth",
        "credential",
        "credentials",
        "key",
        "password",
        "pword",
        "passwd",
        "secret",
        "token",
    ];
    let lower = name.to_ascii_lowercase();
    if lower.split('_').any(|part| WORDS.contains(&part)) {
        sink.warn(
            at,
            format!(
                "Do not use ARG or ENV instructions for sensitive data ({kw} \"{name}\"): use RUN --mount=type=secret (SecretsUsedInArgOrEnv)"
            ),
        );
    }
}

/// RedundantTargetPlatform and FromPlatformFlagConstDisallowed.
pub(crate) fn from_platform(sink: &mut Sink, platform: &str, at: usize) {
    if platform == "$TARGETPLATFORM" || platform == "${TARGETPLATFORM}" {
        sink.warn(
            at,
            format!("Setting platform to predefined {platform} in FROM is redundant as this is the default behavior (RedundantTargetPlatform)"),
        );
    } else if !platform.contains('$') {
        sink.warn(
            at,
            format!("FROM --platform flag should not use a constant value \"{platform}\" (FromPlatformFlagConstDisallowed)"),
        );
    }
}

/// WorkdirRelativePath: a relative WORKDIR before any absolute one depends
/// on the base image's working directory.
pub(crate) fn relative_workdir(sink: &mut Sink, path: &str, at: usize) {
    sink.warn(
        at,
        format!("Relative workdir \"{path}\" can have unexpected results if the base image changes (WorkdirRelativePath)"),
    );
}

/// The rule name a check warning ends with: `... (RuleName)`.
fn rule(message: &str) -> Option<&str> {
    let inner = message.strip_suffix(')')?.rsplit_once('(')?.1;
    (!inner.is_empty() && inner.chars().all(|c| c.is_ascii_alphanumeric())).then_some(inner)
}

/// `# check=skip=<rules>|all;error=true` (BuildKit's check directive): drop
/// skipped rules, and with `error=true` make the remaining check warnings
/// errors.
pub(crate) fn apply_check_directive(value: &str, diags: &mut Vec<Diagnostic>) {
    let mut skip: Vec<&str> = Vec::new();
    let mut error = false;
    for part in value.split(';') {
        match part.trim().split_once('=') {
            Some(("skip", v)) => skip.extend(v.split(',').map(str::trim)),
            Some(("error", v)) => error = v.trim().eq_ignore_ascii_case("true"),
            _ => {}
        }
    }
    diags.retain(|d| {
        d.severity == Severity::Error
            || rule(&d.message).is_none_or(|r| !skip.contains(&r) && !skip.contains(&"all"))
    });
    if error {
        for d in diags.iter_mut().filter(|d| rule(&d.message).is_some()) {
            d.severity = Severity::Error;
        }
    }
}
