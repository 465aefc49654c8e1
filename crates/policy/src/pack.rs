//! Policy sources and their compilation into one validated Cedar policy set:
//! the built-in pack, an operator's directory, the per-policy annotations
//! (`@id`, `@reason`, `@precedence`) and the version hash over all of it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use cedar_policy::{Effect, PolicyId, PolicySet, Schema, ValidationMode, Validator};
use sha2::{Digest, Sha256};
use tollgate_domain::Reason;

use crate::PolicyError;

/// The schema every policy is validated against.
pub(crate) const SCHEMA: &str = include_str!("../schema/tollgate.cedarschema");

/// The built-in pack, in load order (sorted by file name, like a directory).
pub(crate) const BUILT_IN: [(&str, &str); 4] = [
    ("apps.cedar", include_str!("../pack/apps.cedar")),
    ("authors.cedar", include_str!("../pack/authors.cedar")),
    ("base.cedar", include_str!("../pack/base.cedar")),
    ("lifecycle.cedar", include_str!("../pack/lifecycle.cedar")),
];

/// The guard policy's schema (`GuardPolicy`).
pub(crate) const GUARD_SCHEMA: &str = include_str!("../schema/guard.cedarschema");

/// The built-in guard pack, in load order; an operator's `replace` directory
/// replaces all of it but `GUARD_KEPT`.
pub(crate) const GUARD_BUILT_IN: [(&str, &str); 5] = [
    ("guard/apps.cedar", include_str!("../pack/guard/apps.cedar")),
    ("guard/block.cedar", include_str!("../pack/guard/block.cedar")),
    ("guard/browsers.cedar", include_str!("../pack/guard/browsers.cedar")),
    ("guard/crawlers.cedar", include_str!("../pack/guard/crawlers.cedar")),
    ("guard/fleets.cedar", include_str!("../pack/guard/fleets.cedar")),
];

/// The guard's guarantees, loaded in every mode: terms are always served, a
/// verified search crawler is never blocked, no verified crawler is
/// tarpitted, only a verified crawler is charged.
pub(crate) const GUARD_KEPT: (&str, &str) = ("guard/guarantees.cedar", include_str!("../pack/guard/guarantees.cedar"));

/// Which annotations a pack's policies must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rules {
    /// The content policy: every forbid names the reason it withholds with.
    Content,
    /// The guard policy: every policy names its reason, since a permit
    /// chooses the answer and its reason is what explain and the ledger show.
    Guard,
}

/// The precedence of a forbid without `@precedence`: after every built-in.
pub(crate) const DEFAULT_PRECEDENCE: u32 = 1000;

/// One file of policies.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// `built-in:<file>` or the file name inside the operator's directory; this
    /// is what the version hash covers, so moving a directory keeps the hash.
    pub name: String,
    /// Where the file was read from, for messages.
    pub path: Option<PathBuf>,
    pub text: String,
}

impl Source {
    /// How messages refer to the file.
    fn location(&self) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => self.name.clone(),
        }
    }
}

pub(crate) fn built_in_sources() -> Vec<Source> {
    sources_of(&BUILT_IN)
}

pub(crate) fn sources_of(texts: &[(&str, &str)]) -> Vec<Source> {
    texts
        .iter()
        .map(|(name, text)| Source { name: format!("built-in:{name}"), path: None, text: (*text).to_owned() })
        .collect()
}

/// Every `*.cedar` file directly inside `dir`, sorted by file name.
pub(crate) fn dir_sources(dir: &Path) -> Result<Vec<Source>, PolicyError> {
    let read_dir = |source| PolicyError::ReadDir { dir: dir.to_owned(), source };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_dir)? {
        let entry = entry.map_err(read_dir)?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "cedar") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .map_err(|source| PolicyError::ReadFile { path: path.clone(), source })?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            Ok(Source { name, path: Some(path), text })
        })
        .collect()
}

/// What the engine knows about one policy besides its Cedar form.
#[derive(Debug, Clone)]
pub(crate) struct PolicyMeta {
    pub id: String,
    pub effect: &'static str,
    pub reason: Option<Reason>,
    pub precedence: u32,
    /// The source's name (`built-in:<file>` or the file name).
    pub source: String,
    /// 1-based line of the policy's first annotation in its file; 0 if unknown.
    pub line: usize,
    /// The policy as written, annotations included.
    pub text: String,
}

/// The validated policy set and the metadata of each policy, in load order.
pub(crate) struct CompiledPack {
    pub set: PolicySet,
    pub meta: Vec<PolicyMeta>,
    pub index: HashMap<PolicyId, usize>,
}

/// Parses, checks and validates the sources into one policy set.
pub(crate) fn compile(schema: &Schema, sources: &[Source], rules: Rules) -> Result<CompiledPack, PolicyError> {
    let mut set = PolicySet::new();
    let mut meta: Vec<PolicyMeta> = Vec::new();
    let mut index = HashMap::new();
    // For each policy: the source it came from (to render validation errors).
    let mut origin: Vec<usize> = Vec::new();
    for (source_no, src) in sources.iter().enumerate() {
        let parsed = PolicySet::from_str(&src.text).map_err(|e| PolicyError::Parse {
            file: src.location(),
            diagnostics: e.iter().map(|err| render(err, &src.location(), &src.text)).collect::<Vec<_>>().join("\n"),
        })?;
        if let Some(t) = parsed.templates().next() {
            return Err(PolicyError::Template { file: src.location(), id: t.id().to_string() });
        }
        // Cedar names the policies of a text `policy0`, `policy1`, ... in the
        // order they appear; that order is the one to report them in.
        let mut policies: Vec<_> = parsed.policies().collect();
        policies.sort_by_key(|p| p.id().to_string().strip_prefix("policy").and_then(|n| n.parse::<usize>().ok()));
        let mut cursor = 0;
        for (n, policy) in policies.into_iter().enumerate() {
            let text = policy.to_string();
            let offset = src.text.get(cursor..).and_then(|rest| rest.find(&text)).map(|o| o + cursor);
            if let Some(o) = offset {
                cursor = o + text.len();
            }
            let line = offset.map_or(0, |o| line_col(&src.text, o).0);
            let at = if line > 0 { format!("{}:{line}", src.location()) } else { src.location() };
            let stem = src.name.trim_start_matches("built-in:").trim_end_matches(".cedar");
            let id = policy.annotation("id").map_or_else(|| format!("{stem}-{}", n + 1), str::to_owned);
            if id.is_empty() || id.trim() != id {
                return Err(PolicyError::InvalidId {
                    id,
                    file: at,
                    message: "an id must be non-empty without surrounding spaces".into(),
                });
            }
            if let Some(&first) = index.get(&PolicyId::new(&id)) {
                let first: &PolicyMeta = &meta[first];
                return Err(PolicyError::DuplicateId {
                    id,
                    first: format!("{}:{}", first.source, first.line),
                    second: at,
                });
            }
            let effect = match policy.effect() {
                Effect::Permit => "permit",
                Effect::Forbid => "forbid",
            };
            let reason = match policy.annotation("reason") {
                Some(code) if Reason::is_valid_code(code) => Some(Reason::intern(code)),
                Some(code) => return Err(PolicyError::InvalidReason { id, file: at, code: code.to_owned() }),
                None if rules == Rules::Guard => return Err(PolicyError::MissingGuardReason { id, file: at }),
                None if effect == "forbid" => return Err(PolicyError::MissingReason { id, file: at }),
                None => None,
            };
            let precedence = match policy.annotation("precedence") {
                Some(value) => value.trim().parse::<u32>().map_err(|_| PolicyError::InvalidPrecedence {
                    id: id.clone(),
                    file: at.clone(),
                    value: value.to_owned(),
                })?,
                None => DEFAULT_PRECEDENCE,
            };
            let pid = PolicyId::new(&id);
            set.add(policy.new_id(pid.clone())).map_err(|e| PolicyError::InvalidId {
                id: id.clone(),
                file: at.clone(),
                message: e.to_string(),
            })?;
            index.insert(pid, meta.len());
            origin.push(source_no);
            meta.push(PolicyMeta { id, effect, reason, precedence, source: src.name.clone(), line, text });
        }
    }

    let validator = Validator::new(schema.clone());
    let result = validator.validate(&set, ValidationMode::Strict);
    if !result.validation_passed() {
        let problems = result
            .validation_errors()
            .map(|err| {
                let at = index.get(err.policy_id()).map(|&i| &sources[origin[i]]);
                let (file, text) = at.map_or((String::from("?"), ""), |s| (s.location(), s.text.as_str()));
                format!("  policy `{}`: {}", err.policy_id(), render(err, &file, text))
            })
            .collect();
        return Err(PolicyError::Validation { problems });
    }
    Ok(CompiledPack { set, meta, index })
}

/// One Cedar diagnostic as `` `file:line:column`: message (help: ...) ``. The
/// spans Cedar reports are offsets into the text it parsed, which is the
/// whole file.
fn render(diag: &dyn miette::Diagnostic, file: &str, text: &str) -> String {
    let mut out = String::new();
    let span = diag.labels().and_then(|mut labels| labels.next());
    match span {
        Some(label) if !text.is_empty() && label.offset() <= text.len() => {
            let (line, col) = line_col(text, label.offset());
            let _ = write!(out, "`{file}:{line}:{col}`: {diag}");
        }
        _ => {
            let _ = write!(out, "`{file}`: {diag}");
        }
    }
    if let Some(help) = diag.help() {
        let _ = write!(out, " (help: {help})");
    }
    out
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Hex SHA-256 over the schema and every source, each framed with its name
/// and length so that no two different packs hash alike.
pub(crate) fn version_hash(sources: &[Source]) -> String {
    version_hash_with("schema:tollgate.cedarschema", SCHEMA, sources)
}

/// `version_hash` with the schema named: the guard policy's version covers
/// its own schema.
pub(crate) fn version_hash_with(schema_name: &str, schema: &str, sources: &[Source]) -> String {
    let mut h = Sha256::new();
    let mut part = |name: &str, text: &str| {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((text.len() as u64).to_le_bytes());
        h.update(text.as_bytes());
    };
    part(schema_name, schema);
    for s in sources {
        part(&s.name, &s.text);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let text = "ab\ncd\nef";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 4), (2, 2));
        assert_eq!(line_col(text, 6), (3, 1));
    }

    #[test]
    fn version_hash_depends_on_names_and_texts() {
        let a = vec![Source { name: "a.cedar".into(), path: None, text: "x".into() }];
        let b = vec![Source { name: "b.cedar".into(), path: None, text: "x".into() }];
        assert_ne!(version_hash(&a), version_hash(&b));
        assert_eq!(version_hash(&a), version_hash(&a.clone()));
        assert_eq!(version_hash(&a).len(), 64);
    }
}
