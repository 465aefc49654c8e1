//! Verified crawlers: the crawlers whose identity the guard can check, by
//! their published address ranges or their Web Bot Auth keys, as the
//! operator configures them.
//!
//! The configuration is a TOML file of `[[crawler]]` tables:
//!
//! ```toml
//! [[crawler]]
//! name = "Googlebot"              # as reports and the ledger name it
//! agent = "Googlebot"             # the user-agent token it sends
//! kind = "search"                 # `search` or `ai`
//! ranges = ["66.249.64.0/19", "2001:4860:4801::/48"]
//! keys = []                       # Ed25519 public keys, JWK `x` (base64url)
//! ```
//!
//! A crawler needs ranges, keys or both: with neither it could never be
//! verified.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::botauth::CrawlerKey;
use super::cidr::Cidr;

/// One crawler that can verify itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrawlerConfig {
    /// Its name in configuration, reports and the ledger (`Googlebot`).
    pub name: String,
    /// The user-agent token it sends (a whole word of its user agent,
    /// matched case-insensitively).
    pub agent: String,
    pub kind: CrawlerKind,
    /// Its published address ranges: an address in them with the user
    /// agent's token is this crawler.
    pub ranges: Vec<Cidr>,
    /// Its Web Bot Auth keys.
    pub keys: Vec<CrawlerKey>,
}

/// What a verified crawler crawls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrawlerKind {
    Search,
    Ai,
}

/// A verified crawlers file that cannot be used (nothing of it is).
#[derive(Debug, thiserror::Error)]
pub enum CrawlersError {
    #[error("cannot read the verified crawlers file `{path}`: {error}")]
    Read { path: String, error: String },
    #[error("the verified crawlers file `{path}` is not valid: {error}")]
    Syntax { path: String, error: String },
    #[error("{path}:{line}: {what}")]
    Entry { path: String, line: usize, what: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    crawler: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: Spanned<String>,
    agent: Spanned<String>,
    kind: Spanned<String>,
    #[serde(default)]
    ranges: Vec<Spanned<String>>,
    #[serde(default)]
    keys: Vec<Spanned<String>>,
}

/// Reads a verified crawlers file (the format is in the module comment).
pub fn load_crawlers(path: &Path) -> Result<Vec<CrawlerConfig>, CrawlersError> {
    let shown = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| CrawlersError::Read { path: shown.clone(), error: e.to_string() })?;
    parse_crawlers(&text, &shown)
}

/// `load_crawlers` on text already read; `path` names it in errors.
pub fn parse_crawlers(text: &str, path: &str) -> Result<Vec<CrawlerConfig>, CrawlersError> {
    let file: File = toml::from_str(text)
        .map_err(|e| CrawlersError::Syntax { path: path.to_owned(), error: e.to_string().trim_end().to_owned() })?;
    let at = |span: std::ops::Range<usize>, what: String| CrawlersError::Entry {
        path: path.to_owned(),
        line: text.get(..span.start).map_or(0, |before| before.matches('\n').count()) + 1,
        what,
    };
    let mut names = HashSet::new();
    let mut thumbprints = HashSet::new();
    let mut out = Vec::with_capacity(file.crawler.len());
    for entry in file.crawler {
        let name = entry.name.get_ref().trim().to_owned();
        if name.is_empty() || !names.insert(name.to_ascii_lowercase()) {
            let what = if name.is_empty() {
                "a crawler has an empty name".to_owned()
            } else {
                format!("the crawler `{name}` is named twice")
            };
            return Err(at(entry.name.span(), what));
        }
        let agent = entry.agent.get_ref().trim().to_owned();
        if agent.is_empty()
            || super::agent::words(&agent).count() != 1
            || super::agent::words(&agent).next() != Some((0, agent.len()))
        {
            return Err(at(
                entry.agent.span(),
                format!(
                    "the crawler `{name}` has the agent `{agent}`, which is not one user-agent token (like `Googlebot`)"
                ),
            ));
        }
        let kind = match entry.kind.get_ref().as_str() {
            "search" => CrawlerKind::Search,
            "ai" => CrawlerKind::Ai,
            other => {
                return Err(at(
                    entry.kind.span(),
                    format!("the crawler `{name}` has the kind `{other}`, which is not `search` or `ai`"),
                ));
            }
        };
        let mut ranges = Vec::with_capacity(entry.ranges.len());
        for range in &entry.ranges {
            let cidr = range
                .get_ref()
                .trim()
                .parse::<Cidr>()
                .map_err(|e| at(range.span(), format!("the crawler `{name}` has a range {e}")))?;
            ranges.push(cidr);
        }
        let mut keys = Vec::with_capacity(entry.keys.len());
        for key in &entry.keys {
            let parsed = CrawlerKey::from_jwk_x(key.get_ref().trim())
                .map_err(|e| at(key.span(), format!("the crawler `{name}`: {e}")))?;
            if !thumbprints.insert(parsed.thumbprint()) {
                return Err(at(key.span(), format!("the crawler `{name}` has a key listed before")));
            }
            keys.push(parsed);
        }
        if ranges.is_empty() && keys.is_empty() {
            return Err(at(
                entry.name.span(),
                format!("the crawler `{name}` has no ranges and no keys, so it could never be verified"),
            ));
        }
        out.push(CrawlerConfig { name, agent, kind, ranges, keys });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const X: &str = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs";

    #[test]
    fn a_crawlers_file_reads_into_configurations() {
        let text = format!(
            r#"
[[crawler]]
name = "Googlebot"
agent = "Googlebot"
kind = "search"
ranges = ["66.249.64.0/19", "2001:4860:4801::/48"]

[[crawler]]
name = "ExampleAI"
agent = "ExampleAI-Bot"
kind = "ai"
keys = ["{X}"]
"#
        );
        let crawlers = parse_crawlers(&text, "crawlers.toml").unwrap();
        assert_eq!(crawlers.len(), 2);
        assert_eq!(
            (crawlers[0].name.as_str(), crawlers[0].kind, crawlers[0].ranges.len()),
            ("Googlebot", CrawlerKind::Search, 2)
        );
        assert_eq!(crawlers[1].keys, vec![CrawlerKey::from_jwk_x(X).unwrap()]);
        assert_eq!(parse_crawlers("", "empty.toml").unwrap(), vec![]);
    }

    #[test]
    fn bad_entries_are_named_by_file_and_line() {
        let entry = |body: &str| format!("# crawlers\n[[crawler]]\nname = \"Bot\"\n{body}\n");
        let cases = [
            (
                entry("agent = \"Bot\"\nkind = \"shopping\"\nranges = [\"192.0.2.0/24\"]"),
                "crawlers.toml:5: the crawler `Bot` has the kind `shopping`, which is not `search` or `ai`",
            ),
            (
                entry("agent = \"Bot\"\nkind = \"ai\"\nranges = [\n  \"192.0.2.0/24\",\n  \"192.0.2.1/24\",\n]"),
                "crawlers.toml:8: the crawler `Bot` has a range `192.0.2.1/24` has bits set past /24: write `192.0.2.0/24`",
            ),
            (
                entry("agent = \"Bot\"\nkind = \"ai\"\nkeys = [\"AAAA\"]"),
                "crawlers.toml:6: the crawler `Bot`: the key `AAAA` is not 32 bytes long (an Ed25519 public key, JWK `x`)",
            ),
            (
                entry("agent = \"Some Bot\"\nkind = \"ai\"\nranges = [\"192.0.2.0/24\"]"),
                "crawlers.toml:4: the crawler `Bot` has the agent `Some Bot`, which is not one user-agent token (like `Googlebot`)",
            ),
            (
                entry("agent = \"Bot\"\nkind = \"ai\""),
                "crawlers.toml:3: the crawler `Bot` has no ranges and no keys, so it could never be verified",
            ),
            (
                format!(
                    "{}{}",
                    entry(&format!("agent = \"Bot\"\nkind = \"ai\"\nkeys = [\"{X}\"]")),
                    entry(&format!("agent = \"Bot2\"\nkind = \"ai\"\nkeys = [\"{X}\"]"))
                ),
                "crawlers.toml:9: the crawler `Bot` is named twice",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_crawlers(&text, "crawlers.toml").unwrap_err().to_string(), expected, "{text}");
        }
        let err = parse_crawlers("[[crawler]]\nname = \"A\"\nagent = \"A\"\nkind = \"ai\"\nrange = []\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("the verified crawlers file `c.toml` is not valid: ") && err.contains("range"),
            "{err}"
        );
        let err = load_crawlers(Path::new("/nonexistent/c.toml")).unwrap_err().to_string();
        assert!(err.starts_with("cannot read the verified crawlers file `/nonexistent/c.toml`: "), "{err}");
    }

    #[test]
    fn one_key_cannot_verify_two_crawlers() {
        let entry = |name: &str| {
            format!("[[crawler]]\nname = \"{name}\"\nagent = \"{name}\"\nkind = \"ai\"\nkeys = [\"{X}\"]\n")
        };
        let err = parse_crawlers(&format!("{}{}", entry("A"), entry("B")), "c.toml").unwrap_err().to_string();
        assert_eq!(err, "c.toml:10: the crawler `B` has a key listed before");
    }
}
