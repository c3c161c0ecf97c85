//! How a failure reads: one line, `Error: WHAT: WHY`, plus the obvious next
//! step where there is one (an unknown image: how to list or get images).

/// The line printed for `err`.
pub fn error_line(err: &anyhow::Error) -> String {
    let mut line = format!("Error: {err:#}");
    if let Some(hint) = hint(err) {
        line.push_str(&format!(" ({hint})"));
    }
    line
}

/// The fix for well-known failures anywhere in the error's chain.
fn hint(err: &anyhow::Error) -> Option<String> {
    use builder::container::ContainerError;
    use builder::store::Error as StoreError;
    err.chain().find_map(|cause| {
        if let Some(StoreError::NoSuchImage(name)) = cause.downcast_ref::<StoreError>() {
            return Some(format!(
                "`strata image ls` lists the images here; `strata image pull {name}` fetches it from a registry, `strata image bootstrap debian:bookworm` makes a Debian base"
            ));
        }
        if let Some(ContainerError::NoSuchContainer(_)) = cause.downcast_ref::<ContainerError>() {
            return Some("`strata container ps -a` lists the containers".to_string());
        }
        None
    })
}
