//! The mount program's command line, as fuse-overlayfs takes it:
//! `strata-overlayfs [-f] [-d] -o lowerdir=A:B,upperdir=U,workdir=W[,opts] MOUNTPOINT`.
//!
//! containers/storage passes many options meant for fuse-overlayfs or the
//! kernel; the ones that mean nothing here are ignored with a warning, as
//! fuse-overlayfs itself does.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::Config;

#[derive(Debug, Default)]
pub struct Args {
    pub config: Config,
    pub mountpoint: PathBuf,
    /// `-f`: serve in the foreground instead of daemonizing.
    pub foreground: bool,
    /// `-d` / `-o debug`: log every request (implies foreground).
    pub debug: bool,
    /// Ignored options, one warning each.
    pub warnings: Vec<String>,
}

/// What the command line asked for.
#[derive(Debug)]
pub enum Parsed {
    Run(Box<Args>),
    Help,
    Version,
}

pub const USAGE: &str = "usage: strata-overlayfs [-f] [-d] -o lowerdir=DIR[:DIR...][,upperdir=DIR,workdir=DIR][,OPTION...] MOUNTPOINT";

/// Splits a lowerdir list on `:`, honouring `\:` for a colon in a path.
fn split_lowers(s: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur.extend(chars.next()),
            ':' => out.push(PathBuf::from(std::mem::take(&mut cur))),
            c => cur.push(c),
        }
    }
    out.push(PathBuf::from(cur));
    out.into_iter()
        .filter(|p| !p.as_os_str().is_empty())
        .collect()
}

/// Options that are accepted silently: they describe what we do anyway.
const ACCEPTED: [&str; 5] = [
    "default_permissions",
    "allow_other",
    "allow_root",
    "rw",
    "suid",
];
/// Kernel mount flags passed on to the mount.
const PASSED: [&str; 8] = [
    "nodev", "dev", "nosuid", "noexec", "exec", "noatime", "dirsync", "sync",
];

fn apply_option(args: &mut Args, opt: &str) -> Result<(), String> {
    let (key, value) = match opt.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (opt, None),
    };
    match (key, value) {
        ("lowerdir", Some(v)) => args.config.lowerdirs = split_lowers(v),
        ("upperdir", Some(v)) => args.config.upperdir = Some(PathBuf::from(v)),
        ("workdir", Some(v)) => args.config.workdir = Some(PathBuf::from(v)),
        ("threads", Some(v)) => {
            let n: usize = v
                .parse()
                .map_err(|_| format!("threads={v}: not a number"))?;
            args.config.threads = Some(n.max(1));
        }
        ("check_whiteouts", None) => args.config.check_whiteouts = true,
        ("passthrough", Some("on")) => args.config.disable_passthrough = false,
        ("passthrough", Some("off")) => args.config.disable_passthrough = true,
        ("passthrough", Some(v)) => return Err(format!("passthrough={v}: on or off")),
        ("io_uring", Some("on")) => args.config.io_uring = true,
        ("io_uring", Some("off")) => args.config.io_uring = false,
        ("io_uring", Some(v)) => return Err(format!("io_uring={v}: on or off")),
        ("dircache", Some("on")) => args.config.dir_cache = true,
        ("dircache", Some("off")) => args.config.dir_cache = false,
        ("dircache", Some(v)) => return Err(format!("dircache={v}: on or off")),
        ("noacl", None) => args.config.disable_acl = true,
        ("acl", None) => args.config.disable_acl = false,
        ("fsname", Some(_)) => args.config.mount_options.push(opt.to_string()),
        ("ro", None) => {
            args.config.mount_options.push("ro".into());
            args.config.upperdir = None;
            args.config.workdir = None;
        }
        ("debug", None) => {
            args.debug = true;
            args.foreground = true;
        }
        (k, None) if PASSED.contains(&k) => args.config.mount_options.push(k.to_string()),
        (k, None) if ACCEPTED.contains(&k) => {}
        ("", _) => {}
        _ => args
            .warnings
            .push(format!("ignoring unknown option {opt:?}")),
    }
    Ok(())
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, String> {
    let mut out = Args::default();
    let mut opts: Vec<String> = Vec::new();
    let mut positional: Vec<PathBuf> = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let s = arg.to_string_lossy().into_owned();
        match s.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "-V" | "--version" => return Ok(Parsed::Version),
            "-f" => out.foreground = true,
            "-d" | "--debug" => {
                out.debug = true;
                out.foreground = true;
            }
            "-o" => {
                let v = it.next().ok_or("-o needs an argument")?;
                opts.push(v.to_string_lossy().into_owned());
            }
            o if o.starts_with("-o") => opts.push(o[2..].to_string()),
            o if o.starts_with('-') && o.len() > 1 => {
                out.warnings.push(format!("ignoring unknown flag {o:?}"))
            }
            _ => positional.push(PathBuf::from(arg)),
        }
    }
    // `-o ro` must win whatever the order, so ro is applied last.
    let all: Vec<String> = opts
        .iter()
        .flat_map(|o| o.split(',').map(str::to_string))
        .collect();
    let (ro, rest): (Vec<&String>, Vec<&String>) = all.iter().partition(|o| o.as_str() == "ro");
    for o in rest.into_iter().chain(ro) {
        apply_option(&mut out, o)?;
    }
    match positional.len() {
        0 => return Err(format!("no mountpoint given\n{USAGE}")),
        1 => out.mountpoint = positional.remove(0),
        // fuse-overlayfs accepts `SOURCE MOUNTPOINT` (mount(8) helper form).
        _ => out.mountpoint = positional.pop().unwrap_or_default(),
    }
    if out.config.lowerdirs.is_empty() {
        return Err(format!("no lowerdir= option given\n{USAGE}"));
    }
    Ok(Parsed::Run(Box::new(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Args {
        match parse(args.iter().map(OsString::from)).unwrap() {
            Parsed::Run(a) => *a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fuse_overlayfs_command_line() {
        let a = run(&[
            "-o",
            "lowerdir=/a:/b\\:c,upperdir=/u,workdir=/w,context=\"x\",nodev",
            "/mnt",
        ]);
        assert_eq!(
            a.config.lowerdirs,
            vec![PathBuf::from("/a"), PathBuf::from("/b:c")]
        );
        assert_eq!(a.config.upperdir, Some(PathBuf::from("/u")));
        assert_eq!(a.config.workdir, Some(PathBuf::from("/w")));
        assert_eq!(a.config.mount_options, vec!["nodev".to_string()]);
        assert_eq!(a.mountpoint, PathBuf::from("/mnt"));
        assert_eq!(a.warnings.len(), 1);
        assert!(!a.foreground);
    }

    #[test]
    fn read_only_and_foreground() {
        let a = run(&[
            "-f",
            "-oro",
            "-o",
            "lowerdir=/a,upperdir=/u,workdir=/w",
            "/m",
        ]);
        assert!(a.foreground);
        assert_eq!(a.config.upperdir, None);
        assert_eq!(a.config.mount_options, vec!["ro".to_string()]);
    }

    #[test]
    fn io_uring_is_off_unless_asked_for() {
        assert!(!run(&["-o", "lowerdir=/a", "/m"]).config.io_uring);
        let a = run(&["-o", "lowerdir=/a,io_uring=on", "/m"]);
        assert!(a.config.io_uring);
        let a = run(&["-o", "lowerdir=/a,io_uring=on,io_uring=off", "/m"]);
        assert!(!a.config.io_uring);
        assert!(parse(["-o", "lowerdir=/a,io_uring=yes", "/m"].map(OsString::from)).is_err());
    }

    #[test]
    fn the_listing_cache_is_off_unless_asked_for() {
        assert!(!run(&["-o", "lowerdir=/a", "/m"]).config.dir_cache);
        assert!(
            run(&["-o", "lowerdir=/a,dircache=on", "/m"])
                .config
                .dir_cache
        );
        assert!(
            !run(&["-o", "lowerdir=/a,dircache=on,dircache=off", "/m"])
                .config
                .dir_cache
        );
        assert!(parse(["-o", "lowerdir=/a,dircache=yes", "/m"].map(OsString::from)).is_err());
        let bare = run(&["-o", "lowerdir=/a,dircache", "/m"]);
        assert!(!bare.config.dir_cache && !bare.warnings.is_empty());
    }

    #[test]
    fn acls_are_enforced_unless_noacl() {
        assert!(!run(&["-o", "lowerdir=/a", "/m"]).config.disable_acl);
        let a = run(&["-o", "lowerdir=/a,noacl", "/m"]);
        assert!(a.config.disable_acl && a.warnings.is_empty());
        assert!(
            !run(&["-o", "lowerdir=/a,noacl,acl", "/m"])
                .config
                .disable_acl
        );
    }

    #[test]
    fn passthrough_can_be_forced_off() {
        assert!(!run(&["-o", "lowerdir=/a", "/m"]).config.disable_passthrough);
        let a = run(&["-o", "lowerdir=/a,passthrough=off", "/m"]);
        assert!(a.config.disable_passthrough);
        assert!(a.warnings.is_empty());
        assert!(parse(["-o", "lowerdir=/a,passthrough=maybe", "/m"].map(OsString::from)).is_err());
    }

    #[test]
    fn errors() {
        assert!(parse(["-o", "lowerdir=/a"].map(OsString::from)).is_err());
        assert!(parse(["/m"].map(OsString::from)).is_err());
        assert!(matches!(
            parse(["--help"].map(OsString::from)),
            Ok(Parsed::Help)
        ));
    }
}
