//! `allowed_host_paths`: the host directories operators may bind-mount.
//!
//! The daemon resolves a bind source on the engine host and the kernel follows symlinks in it.
//! A container that can write into a directory can therefore plant a symlink there (`ln -s /
//! /data/root`) that a later bind of `/data/root` would follow to the host's root. Hence two
//! kinds of entry:
//! - `"/srv/data"` (read-only): the directory and anything below it, mounted read-only only, so
//!   no run can plant anything in that tree;
//! - `"/srv/scratch:rw"` (writable): that directory itself and nothing below it, since below it
//!   runs can plant symlinks. A writable entry may not overlap any other entry.
//!
//! Paths are compared by whole components, never by looking at the gateway's file system. A
//! source with `.` or `..` components is refused outright: the kernel resolves `..` after
//! following symlinks, so a lexical reading of it could disagree with what gets mounted.

use super::PolicyError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPath {
    /// Absolute and clean: `/srv/data`, or `/`.
    path: String,
    writable: bool,
}

/// How a bind mount of an allowed path asks to be mounted.
pub struct BindRequest<'a> {
    /// The source as written (for messages).
    pub source: &'a str,
    pub read_only: bool,
    /// Options that change the host side: propagation, SELinux relabelling (`z`, `Z`),
    /// creating the source, keeping submounts writable. Named for the message.
    pub host_options: Option<String>,
}

impl HostPath {
    pub fn parse(entry: &str) -> Result<HostPath, PolicyError> {
        let (path, writable) = match entry.rsplit_once(':') {
            Some((p, "rw")) => (p, true),
            Some((p, "ro")) => (p, false),
            Some(_) => {
                return Err(PolicyError::Invalid(format!(
                    "allowed_host_paths: {entry:?}: the only suffixes are :ro (the default) and :rw"
                )));
            }
            None => (entry, false),
        };
        if !path.starts_with('/') || clean(path) != path {
            return Err(PolicyError::Invalid(format!(
                "allowed_host_paths: {entry:?} must be an absolute path without `.`, `..`, `//` or a trailing `/`"
            )));
        }
        Ok(HostPath {
            path: path.to_string(),
            writable,
        })
    }

    /// Whether `path` (clean) is this entry or below it.
    fn contains(&self, path: &str) -> bool {
        path == self.path
            || self.path == "/"
            || path
                .strip_prefix(&self.path)
                .is_some_and(|rest| rest.starts_with('/'))
    }

    fn describe(&self) -> String {
        if self.writable {
            format!("{} (read-write, itself only)", self.path)
        } else {
            format!("{} (read-only)", self.path)
        }
    }
}

/// Refuses a list in which a writable entry overlaps another: runs could plant symlinks in it
/// that a bind of the other entry would follow.
pub fn check_overlaps(entries: &[HostPath]) -> Result<(), PolicyError> {
    for (i, a) in entries.iter().enumerate() {
        for b in &entries[i + 1..] {
            if (a.writable || b.writable) && (a.contains(&b.path) || b.contains(&a.path)) {
                return Err(PolicyError::Invalid(format!(
                    "allowed_host_paths: {} and {} overlap, and one is writable: runs could plant symlinks that a bind of the other would follow",
                    a.path, b.path
                )));
            }
        }
    }
    Ok(())
}

/// `Err(reason)` when no entry allows the bind; the reason completes "`-v …` mounts the host
/// path …".
pub fn allow(entries: &[HostPath], bind: &BindRequest) -> Result<(), String> {
    if bind.source.split('/').any(|c| c == "." || c == "..") {
        return Err(
            "a host path with `.` or `..` components is not allowed; write it plainly".into(),
        );
    }
    let path = clean(bind.source);
    let Some(entry) = entries
        .iter()
        .find(|e| e.contains(&path) && (!e.writable || e.path == path))
    else {
        if let Some(e) = entries.iter().find(|e| e.writable && e.contains(&path)) {
            return Err(format!(
                "only {} itself may be mounted, not a path below it (runs can plant symlinks there)",
                e.path
            ));
        }
        let allowed: Vec<String> = entries.iter().map(HostPath::describe).collect();
        return Err(if allowed.is_empty() {
            "host bind mounts are not allowed".into()
        } else {
            format!(
                "it is not among the allowed host paths: {}",
                allowed.join(", ")
            )
        });
    };
    if !entry.writable && !bind.read_only {
        return Err(format!(
            "{} may only be mounted read-only: add :ro (with --mount: readonly)",
            entry.path
        ));
    }
    if let Some(option) = &bind.host_options {
        return Err(format!(
            "{option} changes the host side of the mount and is not allowed"
        ));
    }
    Ok(())
}

/// The lexical clean-up of an absolute path (Go's `filepath.Clean`): for entries, which must
/// be written clean, and for sources, whose repeated and trailing `/` it drops.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(list: &[&str]) -> Vec<HostPath> {
        list.iter().map(|e| HostPath::parse(e).unwrap()).collect()
    }

    fn bind(source: &str, read_only: bool) -> BindRequest<'_> {
        BindRequest {
            source,
            read_only,
            host_options: None,
        }
    }

    #[test]
    fn clean_is_lexical_like_go() {
        assert_eq!(clean("/srv/data/../../etc"), "/etc");
        assert_eq!(clean("/srv//data/./x/"), "/srv/data/x");
        assert_eq!(clean("/../.."), "/");
    }

    #[test]
    fn entries_are_validated() {
        for bad in ["srv", "/srv/", "/srv/../etc", "/srv//x", "/srv:rx", ""] {
            assert!(HostPath::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            HostPath::parse("/srv:rw").unwrap(),
            HostPath {
                path: "/srv".into(),
                writable: true
            }
        );
        assert!(check_overlaps(&entries(&["/srv", "/srv/x:rw"])).is_err());
        assert!(check_overlaps(&entries(&["/srv:rw", "/srv/x"])).is_err());
        assert!(check_overlaps(&entries(&["/srv/a:rw", "/srv/ab", "/srv/b"])).is_ok());
    }

    #[test]
    fn read_only_entries_cover_their_tree_read_only() {
        let list = entries(&["/srv/data"]);
        assert!(allow(&list, &bind("/srv/data", true)).is_ok());
        assert!(allow(&list, &bind("/srv/data/sub/x", true)).is_ok());
        assert!(allow(&list, &bind("/srv/data/", true)).is_ok());
        let rw = allow(&list, &bind("/srv/data/sub", false)).unwrap_err();
        assert!(rw.contains("read-only"), "{rw}");
        // `.`/`..` at all (the kernel resolves `..` after symlinks), and look-alike prefixes.
        let dots = allow(&list, &bind("/srv/data/../../etc", true)).unwrap_err();
        assert!(dots.contains("`..`"), "{dots}");
        assert!(allow(&list, &bind("/srv/data/sub/..", true)).is_err());
        assert!(allow(&list, &bind("/srv/data/./sub", true)).is_err());
        assert!(allow(&list, &bind("/srv/database", true)).is_err());
        assert!(allow(&list, &bind("/srv", true)).is_err());
    }

    #[test]
    fn writable_entries_cover_themselves_only() {
        let list = entries(&["/srv/scratch:rw"]);
        assert!(allow(&list, &bind("/srv/scratch", false)).is_ok());
        assert!(allow(&list, &bind("/srv/scratch", true)).is_ok());
        let below = allow(&list, &bind("/srv/scratch/root", true)).unwrap_err();
        assert!(below.contains("symlinks"), "{below}");
    }

    #[test]
    fn host_side_options_are_refused() {
        let list = entries(&["/srv/data"]);
        let request = BindRequest {
            source: "/srv/data",
            read_only: true,
            host_options: Some("propagation rshared".into()),
        };
        assert!(allow(&list, &request).unwrap_err().contains("rshared"));
    }

    #[test]
    fn no_entries_no_binds() {
        let e = allow(&[], &bind("/srv", true)).unwrap_err();
        assert_eq!(e, "host bind mounts are not allowed");
    }
}
