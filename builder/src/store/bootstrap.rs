//! `image bootstrap debian:SUITE`: a Debian base image without any image
//! registry, made by `debootstrap --variant=minbase` from the apt mirror this
//! machine is configured with (read at run time; never stored in strata).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use super::Store;
use super::digest::ImageId;
use super::error::{Error, Result, io_err};
use super::import::{ImportOptions, RootfsSource};
use super::reference::Reference;

const APT_SOURCES: &str = "/etc/apt/sources.list";
const APT_SOURCES_DIR: &str = "/etc/apt/sources.list.d";

/// The first Debian archive URI in the machine's apt sources (one-line
/// `deb URI SUITE ...` or deb822 `URIs:`), skipping security and other
/// non-archive repositories.
pub fn apt_mirror() -> Option<String> {
    let mut texts = Vec::new();
    if let Ok(t) = fs::read_to_string(APT_SOURCES) {
        texts.push(t);
    }
    if let Ok(dir) = fs::read_dir(APT_SOURCES_DIR) {
        let mut paths: Vec<_> = dir.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let ext = p.extension().and_then(|e| e.to_str());
            if let (Some("list" | "sources"), Ok(t)) = (ext, fs::read_to_string(&p)) {
                texts.push(t);
            }
        }
    }
    texts.iter().find_map(|t| mirror_in(t))
}

fn mirror_in(text: &str) -> Option<String> {
    let usable = |uri: &str| {
        (uri.starts_with("http://") || uri.starts_with("https://"))
            && uri.trim_end_matches('/').ends_with("/debian")
    };
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        let uri = if let Some(rest) = line.strip_prefix("deb ") {
            // `deb [opts] URI suite...`
            let rest = rest.trim();
            let rest = match rest.strip_prefix('[') {
                Some(r) => r.split_once(']').map_or("", |(_, r)| r.trim()),
                None => rest,
            };
            rest.split_whitespace().next()
        } else if let Some(rest) = line.strip_prefix("URIs:") {
            rest.split_whitespace().find(|u| usable(u))
        } else {
            None
        };
        if let Some(uri) = uri.filter(|u| usable(u)) {
            return Some(uri.to_string());
        }
    }
    None
}

impl Store {
    /// Runs debootstrap for `reference`'s tag (the suite, e.g. `bookworm`)
    /// into staging and imports the result tagged as `reference`. The
    /// debootstrap log is kept in the error on failure.
    pub fn bootstrap_debian(&self, reference: &Reference, mirror: Option<&str>) -> Result<ImageId> {
        let suite = reference.tag().unwrap_or("bookworm");
        let mirror = match mirror {
            Some(m) => m.to_string(),
            None => apt_mirror().ok_or_else(|| Error::Command {
                program: "debootstrap".into(),
                reason: format!("no Debian mirror found in {APT_SOURCES} or {APT_SOURCES_DIR}"),
            })?,
        };
        let stage = self.staging_dir("debootstrap")?;
        let rootfs = stage.join("rootfs");
        let log_path = stage.join("debootstrap.log");
        let result = (|| {
            run_debootstrap(suite, &rootfs, &mirror, &log_path)?;
            let opts = ImportOptions {
                changes: vec![
                    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                    r#"CMD ["bash"]"#.into(),
                ],
                message: Some(format!("debian {suite} (minbase)")),
                source: String::new(),
                created_by: Some(format!("debootstrap --variant=minbase {suite}")),
            };
            self.import_rootfs(RootfsSource::StagedDir(&rootfs), &opts, Some(reference))
        })();
        let _ = fs::remove_dir_all(&stage);
        result
    }
}

fn run_debootstrap(suite: &str, rootfs: &Path, mirror: &str, log_path: &Path) -> Result<()> {
    let log = fs::File::create(log_path).map_err(io_err(log_path))?;
    let log2 = log.try_clone().map_err(io_err(log_path))?;
    let status = Command::new("debootstrap")
        .args(["--variant=minbase", suite])
        .arg(rootfs)
        .arg(mirror)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .status()
        .map_err(|e| Error::Command {
            program: "debootstrap".into(),
            reason: format!("cannot run it ({e}); install the debootstrap package"),
        })?;
    if status.success() {
        return Ok(());
    }
    let text = fs::read_to_string(log_path).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(5).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(Error::Command {
        program: "debootstrap".into(),
        reason: format!("{status}: {}", tail.join(" | ")),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_archive_not_security() {
        let deb822 = "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: x\n\nTypes: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm\n";
        assert_eq!(
            mirror_in(deb822).as_deref(),
            Some("http://mirror.invalid/debian")
        );
        let list = "# deb http://old.invalid/debian sid main\ndeb [arch=amd64] http://mirror.invalid/debian/ bookworm main\n";
        assert_eq!(
            mirror_in(list).as_deref(),
            Some("http://mirror.invalid/debian/")
        );
        assert_eq!(mirror_in("deb cdrom:/ x main"), None);
    }
}
