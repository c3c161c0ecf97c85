//! Instructions that only change the image config (ENV, CMD, LABEL, ...),
//! and the config/history bookkeeping every step shares.

use std::collections::BTreeMap;

use serde_json::json;

use super::error::Result;
use crate::dockerfile::{Command, CommandLine, Healthcheck};
use crate::store::{Empty, History, ImageConfig, ImageId, RunConfig, Store};

/// `KEY=VALUE` strings as pairs.
pub fn env_pairs(env: &[String]) -> Vec<(String, String)> {
    env.iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (e.clone(), String::new()),
        })
        .collect()
}

fn set_env(env: &mut Vec<String>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map(|(k, _)| k) == Some(key))
    {
        Some(e) => *e = entry,
        None => env.push(entry),
    }
}

/// The shell of shell-form commands: SHELL, else `/bin/sh -c`.
pub fn shell(cfg: &RunConfig) -> Vec<String> {
    if cfg.shell.is_empty() {
        vec!["/bin/sh".into(), "-c".into()]
    } else {
        cfg.shell.clone()
    }
}

/// argv of a RUN/CMD/ENTRYPOINT command line.
pub fn argv(cfg: &RunConfig, c: &CommandLine) -> Vec<String> {
    match c {
        CommandLine::Exec(v) => v.clone(),
        CommandLine::Shell(s) => {
            let mut v = shell(cfg);
            v.push(s.clone());
            v
        }
    }
}

/// WORKDIR `dir` relative to the current one.
pub fn workdir(cfg: &RunConfig, dir: &str) -> String {
    let joined = if dir.starts_with('/') {
        dir.to_string()
    } else {
        let base = if cfg.working_dir.is_empty() {
            "/"
        } else {
            &cfg.working_dir
        };
        format!("{base}/{dir}")
    };
    crate::dockerfile::ignore::clean(&joined)
}

fn nanos(d: &Option<std::time::Duration>) -> Option<u128> {
    d.map(|d| d.as_nanos())
}

/// Applies a config-only instruction. `cmd_set` tracks whether this stage
/// set CMD (ENTRYPOINT resets an inherited CMD, as Docker does).
pub fn apply(cfg: &mut ImageConfig, cmd: &Command, raw_onbuild: &str, cmd_set: &mut bool) {
    let rc = &mut cfg.config;
    match cmd {
        Command::Env(kvs) => {
            for kv in kvs {
                set_env(&mut rc.env, &kv.key, &kv.value);
            }
        }
        Command::Cmd(c) => {
            rc.cmd = Some(argv(rc, c));
            *cmd_set = true;
        }
        Command::Entrypoint(c) => {
            rc.entrypoint = Some(argv(rc, c));
            if !*cmd_set {
                rc.cmd = None;
            }
        }
        Command::Shell(v) => rc.shell = v.clone(),
        Command::Label(kvs) => {
            for kv in kvs {
                rc.labels.insert(kv.key.clone(), kv.value.clone());
            }
        }
        Command::Expose(ports) => {
            for p in ports {
                let p = if p.contains('/') {
                    p.to_ascii_lowercase()
                } else {
                    format!("{p}/tcp")
                };
                rc.exposed_ports.insert(p, Empty {});
            }
        }
        Command::Volume(v) => {
            for d in v {
                rc.volumes.insert(d.clone(), Empty {});
            }
        }
        Command::User(u) => rc.user = u.clone(),
        Command::Workdir(d) => rc.working_dir = workdir(rc, d),
        Command::StopSignal(s) => rc.stop_signal = s.clone(),
        Command::Onbuild(_) => rc.on_build.push(raw_onbuild.to_string()),
        Command::Maintainer(m) => cfg.author = Some(m.clone()),
        Command::Healthcheck(h) => {
            rc.healthcheck = Some(match h {
                Healthcheck::None => json!({"Test": ["NONE"]}),
                Healthcheck::Check {
                    interval,
                    timeout,
                    start_period,
                    start_interval,
                    retries,
                    ..
                } => {
                    let mut v = json!({"Test": h.test()});
                    let fields = [
                        ("Interval", nanos(interval)),
                        ("Timeout", nanos(timeout)),
                        ("StartPeriod", nanos(start_period)),
                        ("StartInterval", nanos(start_interval)),
                    ];
                    for (k, n) in fields {
                        if let Some(n) = n {
                            v[k] = json!(n as u64);
                        }
                    }
                    if let Some(r) = retries {
                        v["Retries"] = json!(r);
                    }
                    v
                }
            })
        }
        Command::Arg(_) | Command::Run(_) | Command::Add(_) | Command::Copy(_) => {}
    }
}

/// Appends a history entry and sets `created`.
pub fn push_history(cfg: &mut ImageConfig, created: &str, created_by: String, empty: bool) {
    cfg.created = Some(created.to_string());
    cfg.history.push(History {
        created: Some(created.to_string()),
        created_by: Some(created_by),
        empty_layer: empty,
        ..Default::default()
    });
}

/// `--label`s on the final image: a new config, parent = `image`.
pub fn add_labels(
    store: &Store,
    image: &ImageId,
    labels: &BTreeMap<String, String>,
) -> Result<ImageId> {
    let mut cfg = store.image(image)?.config;
    cfg.config.labels.extend(labels.clone());
    Ok(store.put_image(&cfg, Some(image))?)
}
