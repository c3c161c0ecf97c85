//! Docker's default capability set and how the container's process gets it.

use super::sys;

/// Capabilities Docker grants by default (moby `oci/caps/defaults.go`):
/// CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
/// NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
pub const DOCKER_DEFAULT_CAPS: u64 = 0x0000_0000_a804_25fb;

/// Highest capability number this kernel knows.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// Limits the calling process to Docker's set, as runc does for Docker's
/// spec: bounding = effective = permitted = the default set; inheritable and
/// ambient empty (moby clears them since CVE-2022-24769). Call before
/// switching to the container user: a non-root user then loses the
/// permitted set at setuid/exec, exactly as under Docker.
pub fn apply_docker_caps() -> nix::Result<()> {
    sys::drop_bounding_caps(DOCKER_DEFAULT_CAPS, last_cap())?;
    sys::clear_ambient_caps()?;
    sys::capset(DOCKER_DEFAULT_CAPS, DOCKER_DEFAULT_CAPS, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_mask_is_dockers_fourteen_caps() {
        let caps = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31];
        let mask = caps.iter().fold(0u64, |m, c| m | (1 << c));
        assert_eq!(mask, DOCKER_DEFAULT_CAPS);
    }
}
