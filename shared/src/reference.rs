//! Image references with the docker CLI's grammar and normalisation
//! (github.com/distribution/reference: reference.go, regexp.go, normalize.go).

use std::fmt;

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format")]
    InvalidFormat,
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    NotLowercase(String),
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    #[error("repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")]
    NameTooLong,
}

/// What `docker run IMAGE` names: an image by name (pullable) or by full ID (never pulled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSpec {
    Named(ImageRef),
    Id(String),
}

/// A normalised, named image reference: `domain/path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageSpec {
    /// `ParseAnyReference`: a 64-hex string (or `sha256:` + 64 hex) is an image ID; anything
    /// else must be a valid name and is normalised.
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        let hex = s.strip_prefix("sha256:").unwrap_or(s);
        if is_hex64(hex) {
            return Ok(ImageSpec::Id(s.to_string()));
        }
        ImageRef::parse_normalized(s).map(ImageSpec::Named)
    }
}

impl ImageRef {
    /// `ParseNormalizedNamed`.
    pub fn parse_normalized(s: &str) -> Result<Self, ReferenceError> {
        if is_hex64(s) {
            return Err(ReferenceError::HexName(s.to_string()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = match remainder.find(':') {
            Some(i) => &remainder[..i],
            None => &remainder[..],
        };
        if remote.to_lowercase() != remote {
            return Err(ReferenceError::NotLowercase(remote.to_string()));
        }
        parse(&format!("{domain}/{remainder}"))
    }

    /// The full repository name, e.g. `docker.io/library/alpine` (what master sends as `fromImage`).
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The short name users type, e.g. `alpine` or `127.0.0.1:5000/app`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path
                .strip_prefix(OFFICIAL_REPO_PREFIX)
                .unwrap_or(&self.path)
                .to_string()
        } else {
            self.name()
        }
    }

    /// The `tag` query parameter of a pull: the digest, else the tag, else `latest`.
    pub fn api_tag(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// `FamiliarString(TagNameOnly(ref))`, as in "Unable to find image 'alpine:latest' locally".
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        match (&self.tag, &self.digest) {
            (Some(t), _) => {
                s.push(':');
                s.push_str(t);
            }
            (None, None) => s.push_str(":latest"),
            (None, Some(_)) => {}
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.find('/') {
        Some(i) => {
            let first = &name[..i];
            let is_domain =
                first.contains(['.', ':']) || first == "localhost" || first.to_lowercase() != first;
            if is_domain {
                (first.to_string(), name[i + 1..].to_string())
            } else {
                (DEFAULT_DOMAIN.to_string(), name.to_string())
            }
        }
        None => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
    }
    (domain, remainder)
}

/// `reference.Parse` of a string that already carries its domain.
fn parse(s: &str) -> Result<ImageRef, ReferenceError> {
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => {
            if !is_digest(d) {
                return Err(ReferenceError::InvalidFormat);
            }
            (r, Some(d.to_string()))
        }
        None => (s, None),
    };
    // A tag is after the last ':' that follows the last '/'; an earlier ':' is a port.
    let last_slash = rest.rfind('/').unwrap_or(0);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => {
            let i = last_slash + i;
            let tag = &rest[i + 1..];
            if !is_tag(tag) {
                return Err(ReferenceError::InvalidFormat);
            }
            (&rest[..i], Some(tag.to_string()))
        }
        None => (rest, None),
    };
    if name.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError::NameTooLong);
    }
    let (domain, path) = name.split_once('/').ok_or(ReferenceError::InvalidFormat)?;
    if !is_domain(domain) || !path.split('/').all(is_path_component) {
        return Err(ReferenceError::InvalidFormat);
    }
    Ok(ImageRef {
        domain: domain.to_string(),
        path: path.to_string(),
        tag,
        digest,
    })
}

/// `[a-z0-9]+` joined by `.`, `_`, `__` or one or more `-`.
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `host[:port]` where host is dot-separated labels or a bracketed IPv6 address.
fn is_domain(d: &str) -> bool {
    let (host_ok, rest) = if let Some(v6) = d.strip_prefix('[') {
        let Some((addr, rest)) = v6.split_once(']') else {
            return false;
        };
        let ok = !addr.is_empty() && addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
        (ok, rest)
    } else {
        let (host, rest) = d.split_at(d.find(':').unwrap_or(d.len()));
        (
            !host.is_empty() && host.split('.').all(is_domain_label),
            rest,
        )
    };
    let port_ok = rest.is_empty()
        || rest
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

fn is_domain_label(l: &str) -> bool {
    let b = l.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
}

/// `[\w][\w.-]{0,127}`.
fn is_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

/// `alg:hex{32,}` where alg is `[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*`.
fn is_digest(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|part| {
        let b = part.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(|x| x.is_ascii_alphanumeric())
    });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(s: &str) -> ImageRef {
        match ImageSpec::parse(s).unwrap() {
            ImageSpec::Named(r) => r,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn normalises_like_the_cli() {
        assert_eq!(named("alpine").to_string(), "docker.io/library/alpine");
        assert_eq!(named("alpine").familiar_string(), "alpine:latest");
        assert_eq!(named("u/app").name(), "docker.io/u/app");
        assert_eq!(named("index.docker.io/x").name(), "docker.io/library/x");
        let r = named("127.0.0.1:5000/berth/busybox:1.2");
        assert_eq!(
            (r.domain.as_str(), r.path.as_str(), r.api_tag()),
            ("127.0.0.1:5000", "berth/busybox", "1.2")
        );
        assert_eq!(r.familiar_string(), "127.0.0.1:5000/berth/busybox:1.2");
        assert_eq!(named("localhost/x").domain, "localhost");
        assert_eq!(named("[::1]:5000/x:t").domain, "[::1]:5000");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = named(&format!("alpine@{d}"));
        assert_eq!(r.api_tag(), d);
        assert_eq!(r.familiar_string(), format!("alpine@{d}"));
    }

    #[test]
    fn image_ids_are_not_names() {
        let id = "b".repeat(64);
        assert_eq!(ImageSpec::parse(&id).unwrap(), ImageSpec::Id(id.clone()));
        assert_eq!(
            ImageRef::parse_normalized(&id).unwrap_err().to_string(),
            format!("invalid repository name ({id}), cannot specify 64-byte hexadecimal strings")
        );
    }

    #[test]
    fn rejects_bad_references_with_the_cli_messages() {
        let err = |s: &str| ImageSpec::parse(s).unwrap_err().to_string();
        assert_eq!(
            err("Alpine"),
            "invalid reference format: repository name (library/Alpine) must be lowercase"
        );
        assert_eq!(err(""), "invalid reference format");
        assert_eq!(err("alpine:"), "invalid reference format");
        assert_eq!(err("a//b"), "invalid reference format");
        assert_eq!(err("-a"), "invalid reference format");
        assert_eq!(err("a:b:c"), "invalid reference format");
        assert_eq!(err("alpine@sha256:abc"), "invalid reference format");
        assert_eq!(
            err(&"a".repeat(300)),
            "repository name must not be more than 255 characters"
        );
        assert!(ImageSpec::parse("a__b.c-d---e").is_ok());
        assert!(ImageSpec::parse("a___b").is_err());
    }
}
