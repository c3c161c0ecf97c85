//! `RUN --mount=...` (BuildKit's `instructions/commands_runmount.go`): a CSV
//! list of `key=value` fields, `type` first-class, defaults per type.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

impl MountType {
    fn name(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}

/// One `--mount` of a RUN instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub kind: MountType,
    /// Where it appears in the container (`target`, `dst`, `destination`).
    pub target: Option<String>,
    /// Path in the source (`source`, `src`).
    pub source: Option<String>,
    /// Stage name, index or image to take the source from.
    pub from: Option<String>,
    /// Bind and secret/ssh mounts default to read-only, cache and tmpfs to read-write.
    pub read_only: bool,
    /// Cache id, secret id or ssh id.
    pub id: Option<String>,
    /// Cache sharing mode (cache mounts only; `shared` by default).
    pub sharing: Option<Sharing>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Secret/ssh: fail when the secret is not provided.
    pub required: bool,
    /// tmpfs size in bytes.
    pub size: Option<u64>,
    /// Secret exposed as this environment variable.
    pub env: Option<String>,
}

impl fmt::Display for Mount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "type={}", self.kind.name())?;
        let strs = [
            ("id", &self.id),
            ("target", &self.target),
            ("source", &self.source),
            ("from", &self.from),
            ("env", &self.env),
        ];
        for (k, v) in strs {
            if let Some(v) = v {
                write!(f, ",{k}={v}")?;
            }
        }
        if let Some(s) = self.sharing {
            let s = match s {
                Sharing::Shared => "shared",
                Sharing::Private => "private",
                Sharing::Locked => "locked",
            };
            write!(f, ",sharing={s}")?;
        }
        if let Some(m) = self.mode {
            write!(f, ",mode={m:o}")?;
        }
        for (k, v) in [("uid", self.uid), ("gid", self.gid)] {
            if let Some(v) = v {
                write!(f, ",{k}={v}")?;
            }
        }
        if let Some(s) = self.size {
            write!(f, ",size={s}")?;
        }
        if self.required {
            write!(f, ",required")?;
        }
        let default_ro = matches!(
            self.kind,
            MountType::Bind | MountType::Secret | MountType::Ssh
        );
        if self.read_only != default_ro {
            write!(f, ",{}", if self.read_only { "ro" } else { "rw" })?;
        }
        Ok(())
    }
}

/// Splits one CSV record (Go's `encoding/csv`: fields separated by commas,
/// a field may be double-quoted with `""` for a quote).
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(format!("bare \" in quoted field of {s:?}")),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    out.push(field);
                    return Ok(out);
                }
                Some(',') => {}
                Some(_) => return Err(format!("extraneous \" in field of {s:?}")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        out.push(field);
                        return Ok(out);
                    }
                    Some(',') => break,
                    Some('"') => return Err(format!("bare \" in non-quoted field of {s:?}")),
                    Some(c) => field.push(c),
                }
            }
        }
        out.push(field);
    }
}

fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid value for {key}: {v}")),
    }
}

/// `128m`, `1g`, `4096` (Docker's `units.RAMInBytes`: binary multiples).
pub(crate) fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim();
    let num_end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let num: f64 = v[..num_end].parse().ok()?;
    let unit = v[num_end..].to_ascii_lowercase();
    let mult: u64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return None,
    };
    let bytes = num * mult as f64;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// Parses the value of one `--mount` flag. `expand` is applied to every
/// value except `type` (BuildKit expands mount options with the build args).
pub(crate) fn parse_mount(
    val: &str,
    expand: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<Mount, String> {
    let fields = csv_fields(val)?;
    let mut kind = MountType::Bind;
    for field in &fields {
        let (key, value) = field.split_once('=').unwrap_or((field, ""));
        if key.eq_ignore_ascii_case("type") {
            if !field.contains('=') {
                return Err(format!("invalid field '{field}' must be a key=value pair"));
            }
            kind = match value {
                "bind" => MountType::Bind,
                "cache" => MountType::Cache,
                "tmpfs" => MountType::Tmpfs,
                "secret" => MountType::Secret,
                "ssh" => MountType::Ssh,
                _ => return Err(format!("unsupported mount type {value:?}")),
            };
        }
    }
    let secretish = matches!(kind, MountType::Secret | MountType::Ssh);
    let mut m = Mount {
        kind,
        target: None,
        source: None,
        from: None,
        read_only: false,
        id: None,
        sharing: None,
        mode: None,
        uid: None,
        gid: None,
        required: false,
        size: None,
        env: None,
    };
    let mut ro: Option<bool> = None;
    for field in &fields {
        let Some((key, value)) = field.split_once('=') else {
            match field.to_ascii_lowercase().as_str() {
                "readonly" | "ro" => ro = Some(true),
                "readwrite" | "rw" => ro = Some(false),
                "required" if secretish => m.required = true,
                "required" => {
                    return Err(format!(
                        "unexpected key 'required' for mount type '{}'",
                        kind.name()
                    ));
                }
                _ => return Err(format!("unexpected key '{field}' in '{val}'")),
            }
            continue;
        };
        let key = key.to_ascii_lowercase();
        if key == "type" {
            continue;
        }
        let value = expand(value)?;
        let num = |base: u32| {
            u32::from_str_radix(&value, base)
                .map_err(|_| format!("invalid value for {key}: {value}"))
        };
        match key.as_str() {
            "from" => m.from = Some(value),
            "source" | "src" => m.source = Some(value),
            "target" | "dst" | "destination" => m.target = Some(value),
            "readonly" | "ro" => ro = Some(parse_bool(&key, &value)?),
            "readwrite" | "rw" => ro = Some(!parse_bool(&key, &value)?),
            "required" if secretish => m.required = parse_bool(&key, &value)?,
            "id" => m.id = Some(value),
            "sharing" => {
                if kind != MountType::Cache {
                    return Err(format!(
                        "invalid cache sharing set for {} mount",
                        kind.name()
                    ));
                }
                m.sharing = Some(match value.to_ascii_lowercase().as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ => return Err(format!("unsupported sharing value {value:?}")),
                });
            }
            "mode" => m.mode = Some(num(8)?),
            "uid" => m.uid = Some(num(10)?),
            "gid" => m.gid = Some(num(10)?),
            "env" if kind == MountType::Secret => m.env = Some(value),
            "size" if kind == MountType::Tmpfs => {
                m.size = Some(parse_size(&value).ok_or_else(|| format!("invalid size: {value}"))?)
            }
            _ => {
                return Err(if matches!(key.as_str(), "required" | "env" | "size") {
                    format!("unexpected key '{key}' for mount type '{}'", kind.name())
                } else {
                    format!("unexpected key '{key}' in '{field}'")
                });
            }
        }
    }
    let file_info = matches!(kind, MountType::Secret | MountType::Ssh | MountType::Cache);
    if !file_info {
        for (k, set) in [
            ("mode", m.mode.is_some()),
            ("uid", m.uid.is_some()),
            ("gid", m.gid.is_some()),
        ] {
            if set {
                return Err(format!(
                    "unexpected key '{k}' for mount type '{}'",
                    kind.name()
                ));
            }
        }
    }
    m.read_only = ro.unwrap_or(!matches!(kind, MountType::Cache | MountType::Tmpfs));
    match kind {
        MountType::Secret => {
            if m.from.is_some() {
                return Err("secret mount should not have a from".into());
            }
            if m.source.is_none() && m.target.is_none() && m.id.is_none() && m.env.is_none() {
                return Err(
                    "invalid secret mount: one of id, source, target or env required".into(),
                );
            }
        }
        MountType::Ssh if m.from.is_some() => {
            return Err("ssh mount should not have a from".into());
        }
        MountType::Tmpfs if m.from.is_some() || m.source.is_some() => {
            return Err("tmpfs mount takes no from or source".into());
        }
        _ => {}
    }
    if !secretish && m.target.as_deref().unwrap_or("").is_empty() {
        return Err(format!("mount type '{}' requires a target", kind.name()));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::{csv_fields, parse_size};

    fn fields(s: &str) -> Vec<String> {
        csv_fields(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn csv_like_go() {
        assert_eq!(fields("a=1,b=2"), vec!["a=1", "b=2"]);
        assert_eq!(fields("\"target=/a,b\",ro"), vec!["target=/a,b", "ro"]);
        assert_eq!(fields("\"say \"\"hi\"\"\""), vec!["say \"hi\""]);
        assert_eq!(fields(""), vec![""]);
        assert!(csv_fields("a\"b").is_err());
        assert!(csv_fields("\"open").is_err());
    }

    #[test]
    fn ram_sizes() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("1.5k"), Some(1536));
        assert_eq!(parse_size("12q"), None);
        assert_eq!(parse_size("m"), None);
    }
}
