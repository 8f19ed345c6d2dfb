//! The Engine API versions a plan needs, as the v28 CLI checks them (see
//! [`super::Plan::check_api_version`]).

use std::collections::HashMap;

use bollard_stubs::models::EndpointSettings;

use super::ApiRequirement;
use crate::spec::RunSpec;

/// "1.41" as (1, 41); unparsable versions compare lowest.
pub(super) fn api_version_key(v: &str) -> (u32, u32) {
    v.trim()
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .unwrap_or((0, 0))
}

/// Version checks of the v28 CLI: flags annotated with a minimum API version (checked when
/// the flag is given at all, whatever its value), then the client library's checks (a MAC
/// address for one of the networks' `endpoints`).
pub(super) fn requirements(
    spec: &RunSpec,
    endpoints: &HashMap<String, EndpointSettings>,
) -> Vec<ApiRequirement> {
    let mut requires = Vec::new();
    for (given, feature, version) in [
        (!spec.annotation.is_empty(), "--annotation", "1.43"),
        (spec.cgroupns.is_some(), "--cgroupns", "1.41"),
        (!spec.gpus.is_empty(), "--gpus", "1.40"),
        (
            spec.health_start_interval.is_some(),
            "--health-start-interval",
            "1.44",
        ),
    ] {
        if given {
            requires.push(ApiRequirement {
                feature,
                version,
                flag: true,
            });
        }
    }
    if endpoints
        .values()
        .any(|e| e.mac_address.as_deref().is_some_and(|m| !m.is_empty()))
    {
        requires.push(ApiRequirement {
            feature: "specify mac-address per network",
            version: "1.44",
            flag: false,
        });
    }
    requires
}

#[cfg(test)]
mod tests {
    use crate::plan::tests::plan;

    #[test]
    fn api_version_checks_like_the_cli() {
        let p = plan(&[
            "--health-start-interval",
            "0s",
            "--annotation",
            "a=b",
            "--mac-address",
            "92:d0:c6:0a:29:33",
            "img",
        ])
        .unwrap();
        // Flag checks first, every one, in flag order; the value does not matter.
        assert_eq!(
            p.check_api_version("1.41").unwrap_err().to_string(),
            "\"--annotation\" requires API version 1.43, but the Docker daemon API version is 1.41\n\
             \"--health-start-interval\" requires API version 1.44, but the Docker daemon API version is 1.41"
        );
        assert_eq!(
            p.check_api_version("1.43").unwrap_err().to_string(),
            "\"--health-start-interval\" requires API version 1.44, but the Docker daemon API version is 1.43"
        );
        assert!(p.check_api_version("1.44").is_ok());
        assert!(p.check_api_version("1.53").is_ok());
        // Then the client's own check of a per-network MAC address.
        let mac = plan(&["--network", "name=n1,mac-address=92:d0:c6:0a:29:33", "img"]).unwrap();
        assert_eq!(
            mac.create_json("1.41").unwrap_err().to_string(),
            "\"specify mac-address per network\" requires API version 1.44, but the Docker daemon API version is 1.41"
        );
        assert!(mac.check_api_version("1.44").is_ok());
        assert_eq!(
            plan(&["--cgroupns", "host", "img"])
                .unwrap()
                .check_api_version("1.40")
                .unwrap_err()
                .to_string(),
            "\"--cgroupns\" requires API version 1.41, but the Docker daemon API version is 1.40"
        );
        assert!(plan(&["img"]).unwrap().requires.is_empty());
    }
}
