//! `--user` resolution against the container's own `/etc/passwd` and
//! `/etc/group`, with Docker's rules (runc `libcontainer/user`): a name must
//! exist; a number may be absent (then gid 0, home `/`); supplementary
//! groups are the groups listing the user by name.

use super::error::RuntimeError;

/// Who the process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (without `gid` unless a group lists the user).
    pub groups: Vec<u32>,
    pub home: String,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn passwd_entries(passwd: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    passwd.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || line.starts_with('#') {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

fn group_entries(group: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    group.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 || line.starts_with('#') {
            return None;
        }
        Some(GroupEntry {
            name: f[0],
            gid: f[2].parse().ok()?,
            members: f[3].split(',').filter(|m| !m.is_empty()).collect(),
        })
    })
}

/// Resolves `spec` (`""`, `name`, `uid`, `name:group`, `uid:gid`) given the
/// contents of the container's passwd and group files (empty when missing).
pub fn resolve_user(spec: &str, passwd: &str, group: &str) -> Result<ExecUser, RuntimeError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let not_found = |what: &str| RuntimeError::User {
        user: spec.to_string(),
        reason: format!("no matching entries in {what} file"),
    };

    let entry = match user_part.parse::<u32>() {
        Ok(uid) => passwd_entries(passwd).find(|e| e.uid == uid),
        Err(_) => Some(
            passwd_entries(passwd)
                .find(|e| e.name == user_part)
                .ok_or_else(|| not_found("passwd"))?,
        ),
    };
    let (uid, mut gid, home, name) = match (&entry, user_part.parse::<u32>()) {
        (Some(e), _) => (e.uid, e.gid, e.home.to_string(), Some(e.name)),
        (None, Ok(uid)) => (uid, 0, "/".to_string(), None),
        (None, Err(_)) => return Err(not_found("passwd")),
    };

    if let Some(g) = group_part {
        gid = match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                group_entries(group)
                    .find(|e| e.name == g)
                    .ok_or_else(|| not_found("group"))?
                    .gid
            }
        };
    }
    // Docker adds the groups listing the user only when no group was given.
    let groups = match (group_part, name) {
        (None, Some(name)) => group_entries(group)
            .filter(|e| e.members.contains(&name))
            .map(|e| e.gid)
            .collect(),
        _ => Vec::new(),
    };
    Ok(ExecUser {
        uid,
        gid,
        groups,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
        app:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nwheel:x:10:app,root\n";

    #[test]
    fn empty_is_root_with_its_groups() {
        let u = resolve_user("", PASSWD, GROUP).expect("root");
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
        assert_eq!(u.groups, vec![10]);
    }

    #[test]
    fn name_resolves_uid_gid_home_and_groups() {
        let u = resolve_user("app", PASSWD, GROUP).expect("app");
        assert_eq!(
            u,
            ExecUser {
                uid: 1000,
                gid: 1000,
                groups: vec![10],
                home: "/home/app".into()
            }
        );
    }

    #[test]
    fn numeric_ids_need_no_entry() {
        let u = resolve_user("4242", PASSWD, GROUP).expect("numeric");
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 0, "/"));
        let u = resolve_user("4242:77", PASSWD, GROUP).expect("numeric pair");
        assert_eq!((u.uid, u.gid), (4242, 77));
        let u = resolve_user("65534", PASSWD, GROUP).expect("nobody by uid");
        assert_eq!(u.gid, 65534);
    }

    #[test]
    fn group_by_name_and_unknown_names_fail() {
        let u = resolve_user("nobody:wheel", PASSWD, GROUP).expect("group name");
        assert_eq!((u.uid, u.gid), (65534, 10));
        assert!(u.groups.is_empty());
        assert!(matches!(
            resolve_user("ghost", PASSWD, GROUP),
            Err(RuntimeError::User { .. })
        ));
        assert!(resolve_user("app:ghosts", PASSWD, GROUP).is_err());
    }
}
