//! The OCI image config (application/vnd.oci.image.config.v1+json), the
//! document whose sha256 is the image id.
//!
//! Own serde structs rather than oci-spec's `ImageConfiguration`: the image id
//! is a hash of these bytes, so the field order and the omission of empty
//! fields must never change under us with a dependency upgrade; plain structs
//! are also built with struct literals by the build executor. Configs that
//! come from elsewhere (pull, load) are stored verbatim, never re-serialised.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::digest::DiffId;
use super::error::{Error, Result};

/// An empty JSON object, the value type of `ExposedPorts` and `Volumes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// Top level of the config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    pub architecture: String,
    pub os: String,
    #[serde(default)]
    pub config: RunConfig,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
}

/// `config`: how to run a container of this image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, Empty>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// `None` = inherit/unset; `Some([])` = explicitly reset (`ENTRYPOINT []`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Empty>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    /// `SHELL` (empty = `/bin/sh -c`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shell: Vec<String>,
    /// `ONBUILD` triggers, as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_build: Vec<String>,
    /// `HEALTHCHECK`, Docker's JSON shape (`Test`, `Interval` in ns, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<serde_json::Value>,
}

/// `rootfs`: the layers, bottom first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<DiffIdString>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".to_string(),
            diff_ids: Vec::new(),
        }
    }
}

/// A diff_id as it appears in JSON.
pub type DiffIdString = String;

/// One step of the image's history (`docker history`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True when the step changed only the config (ENV, CMD...).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

impl ImageConfig {
    /// A config for this machine's platform with no layers.
    pub fn for_host() -> ImageConfig {
        ImageConfig {
            architecture: host_architecture().to_string(),
            os: "linux".to_string(),
            ..Default::default()
        }
    }

    /// The layers, bottom first, parsed.
    pub fn diff_ids(&self) -> Result<Vec<DiffId>> {
        self.rootfs
            .diff_ids
            .iter()
            .map(|d| DiffId::parse(d))
            .collect()
    }

    /// Canonical bytes: compact JSON in field order; their sha256 is the id.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::BadConfig(e.to_string()))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<ImageConfig> {
        serde_json::from_slice(bytes).map_err(|e| Error::BadConfig(e.to_string()))
    }
}

/// GOARCH spelling of this machine's architecture, as OCI configs use.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}
