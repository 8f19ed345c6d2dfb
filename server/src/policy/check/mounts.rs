//! `-v`, `--mount` and `--volume-driver`: host paths, named volumes (theirs or not, created
//! with driver options or not), volume drivers and options.

use std::collections::BTreeMap;

use berth_shared::models::{HostConfig, Mount, MountBindOptionsPropagationEnum, MountType};
use berth_shared::plan::Plan;
use berth_shared::reference::ImageSpec;

use super::super::host_paths::{self, BindRequest};
use super::{Check, deny, image_spec};
use crate::policy::{Denial, Facts, Rules};

/// The source of a `-v` bind or a volume mount: as for the daemon, an absolute path is a host
/// path and anything else names a volume (the volume driver validates the name). A volume that
/// already exists is mounted as it was created: its driver and driver options are checked as if
/// this request gave them (a local volume with `o=bind,device=/` is a host bind).
fn volume_source(rules: &Rules, ctx: &Facts, flag: &str, bind: BindRequest) -> Check {
    let name = bind.source;
    if name.starts_with('/') {
        return host_bind(rules, flag, bind);
    }
    if !rules.allow_named_volumes {
        return deny(
            "named-volume",
            format!(
                "{flag} uses the named volume {name}; named volumes are not allowed (anonymous volumes and --tmpfs are)"
            ),
        );
    }
    let Some(existing) = ctx.volumes.get(name) else {
        return Ok(());
    };
    if !existing.owned {
        return deny(
            "named-volume",
            format!(
                "{flag}: the volume {name} is not one of yours or your team's (only volumes Berth created for your or your team's runs may be mounted)"
            ),
        );
    }
    volume_driver(rules, flag, &existing.driver)?;
    if existing.has_options && !rules.allow_volume_options {
        return deny(
            "volume-options",
            format!(
                "{flag}: the volume {name} was created with driver options, which can mount a host path or device; volumes with options are not allowed"
            ),
        );
    }
    Ok(())
}

/// Names of the volumes a request mounts (`-v name:…`, `--mount type=volume,src=name`): the
/// caller looks each up in the engine for [`Facts::volumes`](crate::policy::Facts).
pub fn referenced_volumes(plan: &Plan) -> Vec<String> {
    let Some(host) = &plan.body.host_config else {
        return Vec::new();
    };
    let binds = host
        .binds
        .iter()
        .flatten()
        .filter_map(|b| bind_source(b))
        .map(|(source, _)| source);
    let mounts = host
        .mounts
        .iter()
        .flatten()
        .filter(|m| m.typ == Some(MountType::VOLUME))
        .filter_map(|m| m.source.as_deref());
    let mut names: Vec<String> = binds
        .chain(mounts)
        .filter(|s| !s.is_empty() && !s.starts_with('/'))
        .map(String::from)
        .collect();
    names.sort();
    names.dedup();
    names
}

fn host_bind(rules: &Rules, flag: &str, bind: BindRequest) -> Check {
    if rules.allow_host_binds {
        return Ok(());
    }
    host_paths::allow(&rules.host_paths, &bind).or_else(|reason| {
        deny(
            "host-bind",
            format!("{flag} mounts the host path {}; {reason}", bind.source),
        )
    })
}

/// The source and mode of a `Binds` entry `SRC:DST[:MODE]`; `None` for a container path alone
/// (an anonymous volume).
fn bind_source(bind: &str) -> Option<(&str, &str)> {
    let mut parts = bind.split(':');
    let source = parts.next()?;
    parts.next()?;
    Some((source, parts.next().unwrap_or("")))
}

/// A `-v SRC:DST[:MODE]` bind as the host-path rules see it.
fn bind_request<'a>(source: &'a str, mode: &str) -> BindRequest<'a> {
    let options: Vec<&str> = mode.split(',').collect();
    let host_options = options.iter().find_map(|o| match *o {
        "z" | "Z" => Some(format!(
            "the mode {o} (SELinux relabelling of the host files)"
        )),
        "shared" | "rshared" | "slave" | "rslave" => Some(format!("the propagation {o}")),
        _ => None,
    });
    BindRequest {
        source,
        read_only: options.contains(&"ro"),
        host_options,
    }
}

/// A `--mount type=bind` as the host-path rules see it.
fn mount_bind_request(m: &Mount) -> BindRequest<'_> {
    let options = m.bind_options.as_ref();
    let propagation = options
        .and_then(|o| o.propagation)
        .filter(|p| {
            !matches!(
                p,
                MountBindOptionsPropagationEnum::EMPTY
                    | MountBindOptionsPropagationEnum::PRIVATE
                    | MountBindOptionsPropagationEnum::RPRIVATE
            )
        })
        .map(|p| format!("bind-propagation={p}"));
    let create = options
        .and_then(|o| o.create_mountpoint)
        .unwrap_or(false)
        .then(|| "bind-create-src (creating the host path)".to_string());
    let writable_submounts = options
        .and_then(|o| o.read_only_non_recursive)
        .unwrap_or(false)
        .then(|| "bind-recursive=writable".to_string());
    BindRequest {
        source: m.source.as_deref().unwrap_or(""),
        read_only: m.read_only == Some(true),
        host_options: propagation.or(create).or(writable_submounts),
    }
}

fn volume_driver(rules: &Rules, flag: &str, driver: &str) -> Check {
    if driver.is_empty() || driver == "local" || rules.volume_drivers.iter().any(|d| d == driver) {
        return Ok(());
    }
    deny(
        "volume-driver",
        format!("{flag} uses the volume driver {driver}, which is not allowed"),
    )
}

/// `--mount` as the user would have written it, for messages.
fn mount_flag(m: &Mount) -> String {
    let mut parts = vec![format!(
        "type={}",
        m.typ.map(|t| t.to_string()).unwrap_or_default()
    )];
    if let Some(s) = m.source.as_deref().filter(|s| !s.is_empty()) {
        parts.push(format!("source={s}"));
    }
    if let Some(t) = &m.target {
        parts.push(format!("target={t}"));
    }
    let driver = m
        .volume_options
        .as_ref()
        .and_then(|v| v.driver_config.as_ref());
    if let Some(name) = driver.and_then(|d| d.name.as_deref()) {
        parts.push(format!("volume-driver={name}"));
    }
    let opts: BTreeMap<_, _> = driver
        .and_then(|d| d.options.as_ref())
        .into_iter()
        .flatten()
        .collect();
    for (k, v) in opts {
        parts.push(format!("volume-opt={k}={v}"));
    }
    format!("--mount {}", parts.join(","))
}

/// `-v` (Binds), `--mount` (Mounts) and `--volume-driver`. Both flags can bind a host path,
/// and a volume with the local driver's options `type=none,o=bind,device=/` is a host bind
/// too: all three ways are checked here.
pub(super) fn mounts(rules: &Rules, ctx: &Facts, host: &HostConfig) -> Check {
    volume_driver(
        rules,
        "--volume-driver",
        host.volume_driver.as_deref().unwrap_or(""),
    )?;
    for bind in host.binds.iter().flatten() {
        if let Some((source, mode)) = bind_source(bind) {
            volume_source(
                rules,
                ctx,
                &format!("-v {bind}"),
                bind_request(source, mode),
            )?;
        }
    }
    for m in host.mounts.iter().flatten() {
        let flag = mount_flag(m);
        let source = m.source.as_deref().unwrap_or("");
        match m.typ {
            Some(MountType::BIND) => host_bind(rules, &flag, mount_bind_request(m))?,
            // A Windows named pipe: never within a list of directories.
            Some(MountType::NPIPE) if !rules.allow_host_binds => deny(
                "host-bind",
                format!("{flag} mounts the host pipe {source}; host bind mounts are not allowed"),
            )?,
            Some(MountType::NPIPE) => {}
            Some(MountType::TMPFS) => {}
            Some(MountType::IMAGE) => {
                let spec = ImageSpec::parse(source)
                    .map_err(|e| Denial::new("image-allowlist", format!("{flag}: {e}")))?;
                image_spec(rules, &spec, &format!("{flag}: the image"))?;
            }
            Some(MountType::VOLUME) => {
                let driver = m
                    .volume_options
                    .as_ref()
                    .and_then(|v| v.driver_config.as_ref());
                volume_driver(
                    rules,
                    &flag,
                    driver.and_then(|d| d.name.as_deref()).unwrap_or(""),
                )?;
                let reserved = m
                    .volume_options
                    .as_ref()
                    .and_then(|v| v.labels.as_ref())
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k)
                    .find(|k| k.starts_with(berth_shared::LABEL_PREFIX));
                if let Some(k) = reserved {
                    deny(
                        "labels",
                        format!(
                            "{flag}: volume-label {k}: labels starting with {} are reserved for Berth",
                            berth_shared::LABEL_PREFIX
                        ),
                    )?;
                }
                let has_options = driver
                    .and_then(|d| d.options.as_ref())
                    .is_some_and(|o| !o.is_empty());
                if has_options && !rules.allow_volume_options {
                    deny(
                        "volume-options",
                        format!(
                            "{flag} passes options to the volume driver, which can mount a host path or device (type=none,o=bind,device=/); volume-opt is not allowed"
                        ),
                    )?;
                }
                if !source.is_empty() {
                    let bind = BindRequest {
                        source,
                        read_only: m.read_only == Some(true),
                        host_options: None,
                    };
                    volume_source(rules, ctx, &flag, bind)?;
                }
            }
            Some(MountType::CLUSTER) | None => deny(
                "mount-type",
                format!("{flag}: only bind, volume, tmpfs and image mounts are understood"),
            )?,
        }
    }
    Ok(())
}
