//! Opening what the commands share: the store, the ledger's database, the
//! policy, the agreement and the internal token, each with an error that says what to do.

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tollgate_domain::{Agreement, AppId, Timestamp};
use tollgate_policy::PolicyEngine;
use tollgate_store::{NewKey, Store};
use tollgate_store_sqlite::{SqliteOptions, SqliteStore};

use crate::Failure;
use crate::config::Config;

/// The agreement every new data directory starts with.
pub const BUILT_IN_AGREEMENT: &str = include_str!("agreement-v1.md");
pub const BUILT_IN_TERMS: &str = include_str!("agreement-v1.terms.json");

pub fn open_store(config: &Config) -> Result<Arc<dyn Store>, Failure> {
    let options = SqliteOptions {
        synchronous: config.synchronous,
        read_connections: config.read_connections,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open(&config.data_dir, &options)
        .map_err(|e| Failure::failed(format!("cannot open the store in `{}`: {e}", config.data_dir.display())))?;
    Ok(Arc::new(store))
}

/// The store's copy of the ledger and its audit index (`DATA/ledger.db`).
pub fn open_ledger_db(config: &Config) -> Result<Arc<tollgate_ledger::LedgerDb>, Failure> {
    let options = SqliteOptions { read_connections: config.read_connections, ..SqliteOptions::default() };
    let db = tollgate_ledger::LedgerDb::open(&config.data_dir, &options)
        .map_err(|e| Failure::failed(format!("cannot open the ledger in `{}`: {e}", config.data_dir.display())))?;
    Ok(Arc::new(db))
}

pub fn load_policy(config: &Config) -> Result<PolicyEngine, Failure> {
    PolicyEngine::load(config.policy_dir.as_deref(), config.policy_mode)
        .map_err(|e| Failure::invalid(format!("the policy does not validate, so Tollgate will not start:\n{e}")))
}

/// Publishes the built-in agreement as version 1 if none exists yet.
pub fn ensure_agreement(store: &dyn Store) -> Result<Agreement, Failure> {
    if let Some(latest) = store.latest_agreement()? {
        return Ok(latest);
    }
    let now = Timestamp::now();
    let agreement = Agreement {
        version: 1,
        text: BUILT_IN_AGREEMENT.to_owned(),
        terms_json: BUILT_IN_TERMS.to_owned(),
        published_at: now,
        grace_until: now,
    };
    store.publish_agreement(&agreement)?;
    Ok(agreement)
}

/// The internal API's token: from configuration, else from `DATA/internal-token`,
/// created on first use.
pub fn internal_token(config: &Config) -> Result<String, Failure> {
    if let Some(t) = &config.internal_token {
        return Ok(t.clone());
    }
    let path = config.data_dir.join("internal-token");
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_owned()),
        _ => {
            let token = format!("tgi_{}", random_hex(20)?);
            write_private(&path, &format!("{token}\n"))?;
            Ok(token)
        }
    }
}

pub fn random_hex(bytes: usize) -> Result<String, Failure> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| Failure::failed(format!("no randomness available: {e}")))?;
    Ok(hex::encode(buf))
}

/// Writes a file readable only by its owner, atomically (temp file, rename).
pub fn write_private(path: &Path, contents: &str) -> Result<(), Failure> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Failure::failed(format!("cannot create `{}`: {e}", parent.display())))?;
    }
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| Failure::failed(format!("cannot write `{}`: {e}", path.display())))
}

/// A new bearer token for `app`: returned once, stored only as its hash.
pub fn issue_key(store: &dyn Store, app: AppId) -> Result<(tollgate_domain::ApiKey, String), Failure> {
    let token = format!("tg_{}", random_hex(20)?);
    let key = store.add_key(&NewKey {
        app_id: app,
        hash: hex::encode(Sha256::digest(token.as_bytes())),
        prefix: token[..10].to_owned(),
        created_at: Timestamp::now(),
        expires_at: None,
    })?;
    Ok((key, token))
}
