//! [`RolePolicy::check`](super::RolePolicy::check) for a role with rules: each function it
//! calls is one group of rules, in the order they run; the first denial wins. The groups
//! live in this folder by what they look at: mounts, namespaces (other containers, the
//! host's, networks), host access (capabilities, devices, security options, sysctls,
//! logging, restart and OOM settings) and resources.
//!
//! Every field is read from the create request, with the flag that sets it named in the
//! message. Values the policy does not recognise are refused rather than passed on (fail
//! closed): a request is either understood and allowed, or denied.

mod host;
mod mounts;
mod namespaces;
mod resources;

use std::collections::BTreeMap;

use berth_shared::models::HostConfig;
use berth_shared::plan::Plan;
use berth_shared::reference::{ImageRef, ImageSpec};

use super::{Denial, Facts, Rules};
pub use mounts::referenced_volumes;
pub use namespaces::referenced_containers;
pub use resources::Defaults;

type Check = Result<(), Denial>;

fn deny(rule: &'static str, message: impl Into<String>) -> Check {
    Err(Denial::new(rule, message))
}

pub fn check(rules: &Rules, plan: &Plan, ctx: &Facts) -> Result<Defaults, Denial> {
    let empty = HostConfig::default();
    let host = plan.body.host_config.as_ref().unwrap_or(&empty);
    image(rules, plan)?;
    labels(plan)?;
    if host.privileged == Some(true) && !rules.allow_privileged {
        deny(
            "privileged",
            "--privileged gives the container every capability and every host device",
        )?;
    }
    mounts::mounts(rules, ctx, host)?;
    namespaces::containers(rules, ctx, host, plan)?;
    namespaces::namespaces(rules, ctx, host)?;
    namespaces::networks(rules, ctx, host, plan)?;
    host::capabilities(rules, host)?;
    host::devices(rules, host)?;
    host::security(rules, host)?;
    host::other(rules, host)?;
    host::host_stability(rules, host)?;
    resources::resources(rules, host)
}

/// Labels under `io.berth.` are how Berth recognises its containers and their runs, so a
/// request may not set them: the caller adds its own after the check.
fn labels(plan: &Plan) -> Check {
    let labels: BTreeMap<_, _> = plan.body.labels.iter().flatten().collect();
    match labels
        .into_iter()
        .find(|(k, _)| k.starts_with(berth_shared::LABEL_PREFIX))
    {
        Some((k, v)) => deny(
            "labels",
            format!(
                "-l {k}={v}: labels starting with {} are reserved for Berth",
                berth_shared::LABEL_PREFIX
            ),
        ),
        None => Ok(()),
    }
}

fn image(rules: &Rules, plan: &Plan) -> Check {
    // The daemon creates from `Config.Image`; `plan.image` is what Berth parsed it to. They
    // agree for every plan `plan::build` makes; a plan altered afterwards is refused rather
    // than checked by the wrong name.
    let written = plan.body.image.as_deref().unwrap_or("");
    if ImageSpec::parse(written).ok().as_ref() != Some(&plan.image) {
        return deny(
            "image-allowlist",
            format!("the image {written:?} does not match the request's parsed image"),
        );
    }
    image_spec(rules, &plan.image, "image")
}

fn image_spec(rules: &Rules, spec: &ImageSpec, what: &str) -> Check {
    match spec {
        // An ID names local content: there is no name to hold against the allowlist.
        ImageSpec::Id(id) if !rules.allow_image_ids => deny(
            "image-id",
            format!("{what} {id} is an image ID; run images by a name the policy allows"),
        ),
        ImageSpec::Id(_) => Ok(()),
        ImageSpec::Named(r) => named_image(rules, r, what),
    }
}

fn named_image(rules: &Rules, r: &ImageRef, what: &str) -> Check {
    if !rules.images.iter().any(|p| p.matches(r)) {
        let allowed: Vec<&str> = rules.images.iter().map(|p| p.text.as_str()).collect();
        return deny(
            "image-allowlist",
            format!(
                "{what} {} is not in the allowed images ({})",
                r.familiar_string(),
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            ),
        );
    }
    if rules.require_digest
        && !r
            .digest
            .as_deref()
            .is_some_and(|d| d.starts_with("sha256:"))
    {
        return deny(
            "digest-required",
            format!(
                "{what} {} is not pinned by digest; write it as {}@sha256:<digest>",
                r.familiar_string(),
                r.familiar_name()
            ),
        );
    }
    Ok(())
}
