//! Glob patterns of the policy file: image patterns and plain name patterns (sysctls,
//! networks).
//!
//! Matching is a table over (pattern position, text position), so a pattern with many stars
//! costs at most `pattern × text` steps whatever the input: an image name from a request can
//! never make a check slow.

use berth_shared::reference::ImageRef;

/// Matches `text` against `pattern`. `*` matches any run of characters; when `path` is true
/// it stops at `/` and `**` is needed to cross it (so `team/*` is not `team/sub/app`).
/// Every other character matches itself.
pub fn glob(pattern: &str, text: &str, path: bool) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Char(char),
        Star,
        DoubleStar,
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        toks.push(match c {
            '*' if path && chars.peek() == Some(&'*') => {
                chars.next();
                Tok::DoubleStar
            }
            '*' if path => Tok::Star,
            '*' => Tok::DoubleStar,
            c => Tok::Char(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    // row[j]: the tokens from i on match text[j..]; filled from the last token backwards.
    let mut next = vec![false; text.len() + 1];
    next[text.len()] = true;
    for tok in toks.iter().rev() {
        let mut row = vec![false; text.len() + 1];
        for j in (0..=text.len()).rev() {
            row[j] = match tok {
                Tok::Char(c) => j < text.len() && text[j] == *c && next[j + 1],
                // Match nothing, or one more character and stay on the star.
                Tok::Star => next[j] || (j < text.len() && text[j] != '/' && row[j + 1]),
                Tok::DoubleStar => next[j] || (j < text.len() && row[j + 1]),
            };
        }
        next = row;
    }
    next[0]
}

/// One entry of `allowed_images`: `NAME[:TAG][@DIGEST]`, each part a glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePattern {
    pub text: String,
    name: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl ImagePattern {
    pub fn parse(text: &str) -> Result<ImagePattern, String> {
        let bad = |why: &str| format!("allowed_images: invalid pattern {text:?}: {why}");
        if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("empty, or contains whitespace"));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((r, d)) if !d.is_empty() && !d.contains('@') => (r, Some(d.to_string())),
            Some(_) => return Err(bad("a digest follows one `@`")),
            None => (text, None),
        };
        // As in a reference, the tag is after the last `:` that follows the last `/`: an
        // earlier `:` is a registry port (`127.0.0.1:5000/team/*`).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let i = last_slash + i;
                (&rest[..i], Some(rest[i + 1..].to_string()))
            }
            None => (rest, None),
        };
        if name.is_empty() || tag.as_deref() == Some("") {
            return Err(bad("empty name or tag"));
        }
        // References are compared in two forms only; these spellings would match nothing.
        if name.starts_with("library/") || name.starts_with("index.docker.io/") {
            return Err(bad(
                "write Docker Hub images as `busybox` or `docker.io/library/busybox`",
            ));
        }
        Ok(ImagePattern {
            text: text.to_string(),
            name: name.to_string(),
            tag,
            digest,
        })
    }

    /// Whether the normalised reference `r` matches: the name part against the normalised
    /// name (`docker.io/library/busybox`) or the familiar one (`busybox`); the tag part, when
    /// the pattern has one, against the tag (`latest` when the reference has neither tag nor
    /// digest; a digest-only reference has no tag and matches no tagged pattern); the digest
    /// part, when the pattern has one, against the digest.
    pub fn matches(&self, r: &ImageRef) -> bool {
        let name_ok = [r.name(), r.familiar_name()]
            .iter()
            .any(|n| glob(&self.name, n, true));
        let tag = match (&r.tag, &r.digest) {
            (Some(t), _) => Some(t.as_str()),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        };
        let tag_ok = match &self.tag {
            None => true,
            Some(p) => tag.is_some_and(|t| glob(p, t, false)),
        };
        let digest_ok = match &self.digest {
            None => true,
            Some(p) => r.digest.as_deref().is_some_and(|d| glob(p, d, false)),
        };
        name_ok && tag_ok && digest_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_shared::reference::ImageSpec;

    fn reference(s: &str) -> ImageRef {
        match ImageSpec::parse(s).unwrap() {
            ImageSpec::Named(r) => r,
            ImageSpec::Id(_) => panic!("{s} is an ID"),
        }
    }

    fn matches(pattern: &str, image: &str) -> bool {
        ImagePattern::parse(pattern)
            .unwrap()
            .matches(&reference(image))
    }

    #[test]
    fn policy_glob_stars() {
        assert!(glob("a*c", "abbc", true));
        assert!(!glob("a*c", "ab/c", true));
        assert!(glob("a**c", "ab/c", true));
        assert!(glob("a*c", "ab/c", false));
        assert!(glob("*", "", true));
        assert!(!glob("", "x", true));
        assert!(glob("net.ipv4.*", "net.ipv4.ip_forward", false));
        assert!(!glob(
            "net.ipv4.ping_group_range",
            "net.ipv4.ip_forward",
            false
        ));
        // Pathological patterns stay linear in each dimension.
        let long = "a".repeat(250);
        assert!(!glob(&"*a".repeat(40), &format!("{long}b"), true));
    }

    #[test]
    fn policy_image_patterns() {
        // A pattern without tag matches any tag and any digest.
        assert!(matches("busybox", "busybox"));
        assert!(matches("busybox", "busybox:1.36"));
        assert!(matches(
            "busybox",
            &format!("busybox@sha256:{}", "a".repeat(64))
        ));
        assert!(matches("docker.io/library/busybox", "busybox:1"));
        assert!(!matches("busybox", "evil/busybox"));
        // Tags: `latest` is the tag of a reference without one.
        assert!(matches("busybox:latest", "busybox"));
        assert!(!matches("busybox:1.36", "busybox"));
        assert!(matches("berth-fixture:*", "berth-fixture:v2"));
        assert!(!matches(
            "berth-fixture:*",
            &format!("berth-fixture@sha256:{}", "a".repeat(64))
        ));
        // `*` stays within one path component; `**` crosses them.
        assert!(matches(
            "127.0.0.1:5000/team/*",
            "127.0.0.1:5000/team/app:1"
        ));
        assert!(!matches(
            "127.0.0.1:5000/team/*",
            "127.0.0.1:5000/team/sub/app"
        ));
        assert!(!matches(
            "127.0.0.1:5000/team/*",
            "127.0.0.1:5000/other/app"
        ));
        assert!(matches(
            "127.0.0.1:5000/team/**",
            "127.0.0.1:5000/team/sub/app"
        ));
        assert!(!matches("127.0.0.1:5000/team/*", "127.0.0.1:5001/team/app"));
        assert!(matches("*", "alpine"));
        assert!(!matches("*", "u/app"));
        // A registry port is not a tag.
        assert!(matches("localhost:5000/*:1.*", "localhost:5000/app:1.2"));
        assert!(!matches("localhost:5000/*:1.*", "localhost:5000/app:2"));
        // Digest patterns pin exact content.
        let d = format!("sha256:{}", "b".repeat(64));
        assert!(matches(&format!("busybox@{d}"), &format!("busybox:1@{d}")));
        assert!(!matches(&format!("busybox@{d}"), "busybox:1"));
        for bad in [
            "",
            "a b",
            "x@",
            "a@b@c",
            "x:",
            "library/busybox",
            "index.docker.io/x",
        ] {
            assert!(ImagePattern::parse(bad).is_err(), "{bad}");
        }
    }
}
