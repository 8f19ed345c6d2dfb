//! Filesystem flags: `-v/--volume`, `--mount`, `--tmpfs` and `--device`.
//!
//! Berth never resolves paths on its own host: a relative bind source, which the CLI makes
//! absolute from its working directory, is refused instead.
//!
//! Long on purpose: four flags whose grammars (the CLI's `-v` triples, `--mount`'s CSV keys
//! per type, tmpfs and device options) share their tests and error wording.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard_stubs::models::{
    DeviceMapping, Mount, MountBindOptions, MountTmpfsOptions, MountType, MountVolumeOptions,
    MountVolumeOptionsDriverConfig,
};

use crate::units;

fn relative_source(flag: &str, value: &str, source: &str) -> String {
    format!(
        "{flag} {value}: the bind source {source} is relative; the docker CLI resolves it against \
         its own working directory, which a request to Berth does not have. Give an absolute path"
    )
}

/// `-v` values split as the CLI does: those with a source become Binds (verbatim), the others
/// anonymous Volumes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Volumes {
    pub binds: Vec<String>,
    pub volumes: BTreeSet<String>,
}

/// The fields of a `-v` spec that decide Binds vs Volumes (cli `volumespec.Parse`).
fn volume_source(spec: &str) -> Result<Option<String>, String> {
    if spec.is_empty() {
        return Err("invalid empty volume spec".to_string());
    }
    if spec.len() <= 2 {
        return Ok(None);
    }
    let (mut source, mut target) = (None::<String>, None::<String>);
    let mut buffer = String::new();
    let chars: Vec<char> = spec.chars().chain(['\0']).collect();
    for c in chars {
        let windows_drive =
            c == ':' && buffer.chars().count() == 1 && buffer.chars().all(char::is_alphabetic);
        if windows_drive || (c != ':' && c != '\0') {
            buffer.push(c);
            continue;
        }
        let field = std::mem::take(&mut buffer);
        let err = |why: &str| format!("invalid spec: {spec}: {why}");
        if field.is_empty() {
            return Err(err("empty section between colons"));
        }
        if source.is_none() && c == '\0' {
            target = Some(field);
        } else if source.is_none() {
            source = Some(field);
        } else if target.is_none() {
            target = Some(field);
        } else if c == ':' {
            return Err(err("too many colons"));
        }
    }
    Ok(source)
}

/// Whether volumespec treats a source as a host path (bind) rather than a volume name.
fn is_file_path(source: &str) -> bool {
    match source.chars().next() {
        Some('.' | '/' | '~') => true,
        _ => source.starts_with(r"\\") || source.chars().nth(1) == Some(':'),
    }
}

pub fn volumes(values: &[String]) -> Result<Volumes, String> {
    let mut out = Volumes::default();
    let mut seen = BTreeSet::new();
    for spec in values {
        // The CLI goes through a set, so repeating a value has no effect.
        if !seen.insert(spec) {
            continue;
        }
        match volume_source(spec)? {
            Some(source) => {
                if is_file_path(&source) && source.starts_with('.') {
                    return Err(relative_source("-v", spec, &source));
                }
                daemon_bind_spec(spec)?;
                out.binds.push(spec.clone());
            }
            None => {
                out.volumes.insert(spec.clone());
            }
        }
    }
    Ok(out)
}

/// `-v` modes a Linux daemon knows (moby `linuxParser.ValidateMountMode`): comma-separated,
/// at most one of each kind.
fn valid_bind_mode(mode: &str) -> bool {
    let mut kinds = [0u8; 5];
    for o in mode.split(',') {
        let kind = match o {
            "rw" | "ro" => 0,
            "z" | "Z" => 1,
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => 2,
            "nocopy" => 3,
            "consistent" | "cached" | "delegated" => 4,
            _ => return false,
        };
        kinds[kind] += 1;
    }
    kinds.iter().all(|&n| n <= 1)
}

/// The checks a Linux daemon makes of a bind (moby `linuxParser.ParseMountRaw`) that it
/// answers with a 500 rather than a 400, so Berth makes them first, with its messages.
fn daemon_bind_spec(spec: &str) -> Result<(), String> {
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [_, mode] if valid_bind_mode(mode) => {
            Err(format!("invalid volume specification: '{spec}'"))
        }
        [_, _] => Ok(()),
        [_, _, mode] if !mode.is_empty() && !valid_bind_mode(mode) => {
            Err(format!("invalid mode: {mode}"))
        }
        [_, _, _] => Ok(()),
        _ => Err(format!("invalid volume specification: '{spec}'")),
    }
}

/// `--tmpfs /run:rw,size=64m` → Tmpfs map entry `/run` → `rw,size=64m`.
pub fn tmpfs(values: &[String]) -> HashMap<String, String> {
    values
        .iter()
        .map(|t| {
            let (k, v) = t.split_once(':').unwrap_or((t, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// `bind-*`/`volume-*` option values that take a boolean (`opts.parseBoolValue`).
fn bool_value(key: &str, value: Option<&str>) -> Result<bool, String> {
    match value {
        None | Some("1" | "true") => Ok(true),
        Some("0" | "false") => Ok(false),
        Some(v) => Err(format!(
            r#"invalid value for '{key}': invalid boolean value ("{v}"): must be one of "true", "1", "false", or "0" (default "true")"#
        )),
    }
}

fn enum_value<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

/// docker CLI v28 always creates an (empty) DriverConfig along with VolumeOptions.
fn volume_opts(v: &mut Option<MountVolumeOptions>) -> &mut MountVolumeOptions {
    v.get_or_insert_with(|| MountVolumeOptions {
        driver_config: Some(MountVolumeOptionsDriverConfig::default()),
        ..Default::default()
    })
}

/// One `--mount` value (cli `opts.MountOpt.Set`): CSV of `key=value`, default type volume.
pub fn mount(value: &str) -> Result<Mount, String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err("value is empty".to_string());
    }
    let mut typ = "volume".to_string();
    let mut m = Mount::default();
    let (mut bind, mut volume, mut tmpfs) = (
        None::<MountBindOptions>,
        None::<MountVolumeOptions>,
        None::<MountTmpfsOptions>,
    );
    let mut image_subpath = None::<String>;
    for field in crate::csv::fields(trimmed)? {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field.as_str(), None),
        };
        if key.trim() != key {
            return Err(format!(
                "invalid option '{}' in '{field}': option should not have whitespace",
                key.trim()
            ));
        }
        if let Some(v) = val {
            if v.trim().is_empty() {
                return Err(format!("invalid value for '{key}': value is empty"));
            }
            if v.trim() != v {
                return Err(format!(
                    "invalid value for '{key}' in '{field}': value should not have whitespace"
                ));
            }
        }
        let key = key.to_ascii_lowercase();
        let v = val.unwrap_or("");
        if val.is_none()
            && !matches!(
                key.as_str(),
                "readonly" | "ro" | "volume-nocopy" | "bind-nonrecursive" | "bind-create-src"
            )
        {
            return Err(format!("invalid field '{field}' must be a key=value pair"));
        }
        match key.as_str() {
            "type" => typ = v.to_ascii_lowercase(),
            "source" | "src" => {
                if v.starts_with('.') {
                    return Err(relative_source("--mount", value, v));
                }
                m.source = Some(v.to_string());
            }
            "target" | "dst" | "destination" => m.target = Some(v.to_string()),
            "readonly" | "ro" => m.read_only = Some(bool_value(&key, val)?),
            "consistency" => m.consistency = Some(v.to_ascii_lowercase()),
            "bind-propagation" => {
                let p = enum_value(&v.to_ascii_lowercase())
                    .ok_or_else(|| format!("invalid value for {key}: {v}"))?;
                bind.get_or_insert_default().propagation = Some(p);
            }
            // Deprecated (the v28 CLI warns) but still honoured; master refuses it.
            "bind-nonrecursive" => {
                let b = bind.get_or_insert_default();
                if bool_value(&key, val)? {
                    b.non_recursive = Some(true);
                }
            }
            "bind-recursive" => {
                let b = bind.get_or_insert_default();
                match v {
                    "enabled" => {}
                    "disabled" => b.non_recursive = Some(true),
                    "writable" => b.read_only_non_recursive = Some(true),
                    "readonly" => b.read_only_force_recursive = Some(true),
                    _ => {
                        return Err(format!(
                            r#"invalid value for {key}: {v} (must be "enabled", "disabled", "writable", or "readonly")"#
                        ));
                    }
                }
            }
            "bind-create-src" => {
                bind.get_or_insert_default().create_mountpoint = Some(bool_value(&key, val)?);
            }
            "volume-subpath" => volume_opts(&mut volume).subpath = Some(v.to_string()),
            "volume-nocopy" => volume_opts(&mut volume).no_copy = Some(bool_value(&key, val)?),
            "volume-label" | "volume-opt" => {
                let opts = volume_opts(&mut volume);
                let map = if key == "volume-label" {
                    &mut opts.labels
                } else {
                    &mut opts.driver_config.get_or_insert_default().options
                };
                let (k, v) = v.split_once('=').unwrap_or((v, ""));
                if !k.is_empty() {
                    map.get_or_insert_default()
                        .insert(k.to_string(), v.to_string());
                }
            }
            "volume-driver" => {
                volume_opts(&mut volume)
                    .driver_config
                    .get_or_insert_default()
                    .name = Some(v.to_string());
            }
            "image-subpath" => image_subpath = Some(v.to_string()),
            "tmpfs-size" => {
                let size =
                    units::ram_in_bytes(v).map_err(|_| format!("invalid value for {key}: {v}"))?;
                tmpfs.get_or_insert_default().size_bytes = Some(size);
            }
            "tmpfs-mode" => {
                let mode = u32::from_str_radix(v, 8)
                    .map_err(|_| format!("invalid value for {key}: {v}"))?;
                tmpfs.get_or_insert_default().mode = Some(i64::from(mode));
            }
            _ => return Err(format!("unknown option '{key}' in '{field}'")),
        }
    }
    for (set, kind) in [
        (bind.is_some(), "bind"),
        (volume.is_some(), "volume"),
        (image_subpath.is_some(), "image"),
        (tmpfs.is_some(), "tmpfs"),
    ] {
        if set && typ != kind {
            return Err(format!(
                "cannot mix '{kind}-*' options with mount type '{typ}'"
            ));
        }
    }
    let read_only = m.read_only == Some(true);
    if let Some(b) = &bind {
        if b.read_only_non_recursive == Some(true) && !read_only {
            return Err("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction".to_string());
        }
        if b.read_only_force_recursive == Some(true) {
            if !read_only {
                return Err("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction".to_string());
            }
            if b.propagation != enum_value("rprivate") {
                return Err("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction".to_string());
            }
        }
    }
    if m.target.is_none() {
        return Err("target is required".to_string());
    }
    m.typ =
        Some(enum_value::<MountType>(&typ).ok_or_else(|| {
            format!("invalid mount config for type \"{typ}\": mount type unknown")
        })?);
    if !read_only {
        m.read_only = None;
    }
    m.bind_options = bind;
    m.volume_options = volume;
    m.tmpfs_options = tmpfs;
    m.image_options =
        image_subpath.map(|s| bollard_stubs::models::MountImageOptions { subpath: Some(s) });
    Ok(m)
}

/// Go's `path.Clean`.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// `r`, `w`, `m`, each at most once.
fn valid_device_mode(mode: &str) -> bool {
    let mut seen = BTreeSet::new();
    !mode.is_empty() && mode.chars().all(|c| "rwm".contains(c) && seen.insert(c))
}

/// A CDI device name, `vendor.com/class=name` (container-device-interface `IsQualifiedName`).
fn is_cdi_name(device: &str) -> bool {
    let Some((qualifier, name)) = device.split_once('=') else {
        return false;
    };
    let Some((vendor, class)) = qualifier.split_once('/') else {
        return false;
    };
    let ok = |s: &str, extra: &str, first_alpha: bool| {
        let first = s.chars().next();
        let last = s.chars().last();
        first.is_some_and(|c| {
            if first_alpha {
                c.is_ascii_alphabetic()
            } else {
                c.is_ascii_alphanumeric()
            }
        }) && last.is_some_and(|c| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
    };
    !device.starts_with('/')
        && !class.contains('/')
        && ok(vendor, "-_.", true)
        && ok(class, "-_", true)
        && ok(name, "-_.:", false)
}

/// `--device` values: host devices (`/dev/x[:/dev/y][:rwm]`) and CDI device names.
pub fn devices(values: &[String]) -> Result<(Vec<DeviceMapping>, Vec<String>), String> {
    let mut mappings = Vec::new();
    let mut cdi = Vec::new();
    for device in values {
        if is_cdi_name(device) {
            cdi.push(device.clone());
            continue;
        }
        // validateLinuxPath: check the form and normalise the container path.
        if device.matches(':').count() > 2 || device.starts_with(':') || device.is_empty() {
            return Err(format!("bad format for path: {device}"));
        }
        let split: Vec<&str> = device.splitn(3, ':').collect();
        let (host, container, mode) = match split[..] {
            [p] => (clean(p), clean(p), "rwm".to_string()),
            [h, m] if valid_device_mode(m) => (clean(h), clean(h), m.to_string()),
            [h, c] => (h.to_string(), clean(c), "rwm".to_string()),
            [h, c, m] => {
                if !valid_device_mode(m) {
                    return Err(format!("bad mode specified: {m}"));
                }
                (h.to_string(), c.to_string(), m.to_string())
            }
            _ => unreachable!("splitn(3) gives 1 to 3 parts"),
        };
        let checked = if split.len() == 1 || (split.len() == 2 && valid_device_mode(split[1])) {
            split[0]
        } else {
            split[1]
        };
        if !checked.starts_with('/') {
            return Err(format!("{checked} is not an absolute path"));
        }
        mappings.push(DeviceMapping {
            path_on_host: Some(host),
            path_in_container: Some(container),
            cgroup_permissions: Some(mode),
        });
    }
    Ok((mappings, cdi))
}

/// Sorted map → HashMap, for the models' map fields.
pub fn to_map(m: BTreeMap<String, String>) -> HashMap<String, String> {
    m.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn bind_nonrecursive_is_still_honoured_as_by_the_v28_cli() {
        let m = mount("type=bind,src=/tmp,dst=/m,bind-nonrecursive").unwrap();
        assert_eq!(m.bind_options.unwrap().non_recursive, Some(true));
        let m = mount("type=bind,src=/tmp,dst=/m,bind-nonrecursive=false").unwrap();
        assert_eq!(m.bind_options, Some(MountBindOptions::default()));
        assert_eq!(
            mount("type=volume,dst=/m,bind-nonrecursive").unwrap_err(),
            "cannot mix 'bind-*' options with mount type 'volume'"
        );
        assert!(
            mount("type=bind,src=/tmp,dst=/m,bind-nonrecursive=maybe")
                .unwrap_err()
                .starts_with("invalid value for 'bind-nonrecursive'")
        );
    }

    #[test]
    fn binds_a_linux_daemon_refuses_with_a_500() {
        assert_eq!(
            volumes(&s(&["/a:/b:c:d"])).unwrap_err(),
            "invalid volume specification: '/a:/b:c:d'"
        );
        assert_eq!(
            volumes(&s(&["/a:/b:bogus"])).unwrap_err(),
            "invalid mode: bogus"
        );
        assert_eq!(
            volumes(&s(&["/a:/b:ro,rw"])).unwrap_err(),
            "invalid mode: ro,rw"
        );
        assert_eq!(
            volumes(&s(&["/a:ro"])).unwrap_err(),
            "invalid volume specification: '/a:ro'"
        );
        for ok in [
            "/a:/b",
            "/a:/b:ro,Z",
            "/a:/b:rw,rslave,nocopy",
            "vol:/b:nocopy",
            "/a:/b:z,cached",
        ] {
            assert_eq!(volumes(&s(&[ok])).unwrap().binds, [ok], "{ok}");
        }
    }

    #[test]
    fn volume_flag() {
        // `-v /tmp` ⇒ Volumes, Binds nil; `-v /h:/c:ro,Z` ⇒ Binds verbatim.
        let v = volumes(&s(&["/tmp"])).unwrap();
        assert!(v.binds.is_empty());
        assert_eq!(v.volumes, BTreeSet::from(["/tmp".to_string()]));
        let v = volumes(&s(&[
            "/hostTmp:/containerTmp:ro,Z",
            "/c2",
            "named:/data",
            "/c2",
        ]))
        .unwrap();
        assert_eq!(v.binds, ["/hostTmp:/containerTmp:ro,Z", "named:/data"]);
        assert_eq!(v.volumes, BTreeSet::from(["/c2".to_string()]));
        assert!(
            volumes(&s(&["./x:/y"]))
                .unwrap_err()
                .contains("the bind source ./x is relative")
        );
        assert!(volumes(&s(&[".:/y"])).is_err());
        assert_eq!(
            volumes(&s(&["/a::b"])).unwrap_err(),
            "invalid spec: /a::b: empty section between colons"
        );
        assert_eq!(
            volumes(&s(&["/a:/b:ro:x"])).unwrap_err(),
            "invalid spec: /a:/b:ro:x: too many colons"
        );
        assert_eq!(volumes(&s(&[""])).unwrap_err(), "invalid empty volume spec");
    }

    #[test]
    fn mount_flag() {
        let m = mount("type=bind,src=/tmp,dst=/b,ro,bind-propagation=rslave").unwrap();
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            serde_json::json!({"Type":"bind","Source":"/tmp","Target":"/b","ReadOnly":true,
                "BindOptions":{"Propagation":"rslave"}})
        );
        let m = mount("source=vol,target=/v,volume-nocopy,volume-opt=type=nfs,volume-subpath=sub,volume-driver=local").unwrap();
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            serde_json::json!({"Type":"volume","Source":"vol","Target":"/v",
                "VolumeOptions":{"NoCopy":true,"Subpath":"sub",
                    "DriverConfig":{"Name":"local","Options":{"type":"nfs"}}}})
        );
        let m = mount("type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            serde_json::json!({"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576,"Mode":1016}})
        );
        let m = mount(r#"type=bind,"src=/a,b",dst=/c,readonly=false"#).unwrap();
        assert_eq!(m.source.as_deref(), Some("/a,b"));
        assert_eq!(m.read_only, None);
        let m = mount("type=image,src=img,dst=/i,image-subpath=/x").unwrap();
        assert_eq!(m.image_options.unwrap().subpath.as_deref(), Some("/x"));
    }

    #[test]
    fn mount_errors() {
        let err = |v: &str| mount(v).unwrap_err();
        assert_eq!(err("dst=/x,foo=1"), "unknown option 'foo' in 'foo=1'");
        assert_eq!(
            err("dst=/x,ro=maybe"),
            r#"invalid value for 'ro': invalid boolean value ("maybe"): must be one of "true", "1", "false", or "0" (default "true")"#
        );
        assert_eq!(err("src=x"), "target is required");
        assert_eq!(
            err("dst=/x,src"),
            "invalid field 'src' must be a key=value pair"
        );
        assert_eq!(
            err("dst=/x,src="),
            "invalid value for 'src': value is empty"
        );
        assert_eq!(err(""), "value is empty");
        assert_eq!(
            err("type=volume,dst=/x,tmpfs-size=1m"),
            "cannot mix 'tmpfs-*' options with mount type 'volume'"
        );
        assert_eq!(
            err("type=bind,dst=/x,volume-nocopy"),
            "cannot mix 'volume-*' options with mount type 'bind'"
        );
        assert_eq!(
            err("type=foo,dst=/x"),
            "invalid mount config for type \"foo\": mount type unknown"
        );
        assert_eq!(
            err("type=tmpfs,dst=/x,tmpfs-mode=9"),
            "invalid value for tmpfs-mode: 9"
        );
        assert_eq!(
            err("type=bind,src=/a,dst=/x,bind-recursive=readonly,ro"),
            "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction"
        );
        assert!(err("type=bind,src=./a,dst=/x").contains("the bind source ./a is relative"));
    }

    #[test]
    fn tmpfs_and_devices() {
        let t = tmpfs(&s(&["/run:rw,size=64m", "/x"]));
        assert_eq!(t["/run"], "rw,size=64m");
        assert_eq!(t["/x"], "");
        let dev = |host: &str, ctr: &str, mode: &str| DeviceMapping {
            path_on_host: Some(host.into()),
            path_in_container: Some(ctr.into()),
            cgroup_permissions: Some(mode.into()),
        };
        let (d, cdi) = devices(&s(&[
            "/dev/snd",
            "/dev/snd:/something:rw",
            "/dev/a:r",
            "/dev/b:/x/../y",
            "vendor.com/class=name",
        ]))
        .unwrap();
        assert_eq!(
            d,
            [
                dev("/dev/snd", "/dev/snd", "rwm"),
                dev("/dev/snd", "/something", "rw"),
                dev("/dev/a", "/dev/a", "r"),
                dev("/dev/b", "/y", "rwm")
            ]
        );
        assert_eq!(cdi, ["vendor.com/class=name"]);
        assert_eq!(
            devices(&s(&["./"])).unwrap_err(),
            "./ is not an absolute path"
        );
        assert_eq!(
            devices(&s(&["a:/b:ro"])).unwrap_err(),
            "bad mode specified: ro"
        );
        assert_eq!(
            devices(&s(&["/a:b"])).unwrap_err(),
            "b is not an absolute path"
        );
        assert_eq!(
            devices(&s(&["a:b:c:d"])).unwrap_err(),
            "bad format for path: a:b:c:d"
        );
    }
}
