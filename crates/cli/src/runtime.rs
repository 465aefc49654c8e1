//! Opening what the commands share: the store, the ledger's database, the
//! policy, the agreement and the internal token, each with an error that says what to do.

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tollgate_domain::{Agreement, AppId, Timestamp};
use tollgate_policy::{GuardPolicy, PolicyEngine};
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

/// The guard policy (`guard_policy_dir`, `guard_policy_mode`), validated:
/// `serve` must not start on one that does not validate.
pub fn load_guard_policy(config: &Config) -> Result<GuardPolicy, Failure> {
    // INVARIANT (valid-policy): the guard policy validates too, or nothing starts.
    GuardPolicy::load(config.guard_policy_dir.as_deref(), config.guard_policy_mode)
        .map_err(|e| Failure::invalid(format!("the guard policy does not validate, so Tollgate will not start:\n{e}")))
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

/// Where the demo keeps the settings page's HS256 secret when none is configured.
pub const SETTINGS_JWT_SECRET_FILE: &str = "settings-jwt-secret";

/// The HS256 secret of the settings page's sign-in tokens: from
/// configuration, else from `DATA/settings-jwt-secret` if that file exists
/// (the demo creates it); `None`: HS256 tokens are not accepted.
pub fn settings_jwt_secret(config: &Config) -> Result<Option<String>, Failure> {
    if let Some(s) = &config.settings_page.hs256_secret {
        return Ok(Some(s.clone()));
    }
    let path = config.data_dir.join(SETTINGS_JWT_SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(t) if t.trim().len() >= 32 => Ok(Some(t.trim().to_owned())),
        Ok(_) => Err(Failure::invalid(format!("`{}` holds fewer than 32 characters", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::failed(format!("cannot read `{}`: {e}", path.display()))),
    }
}

/// The key of the settings page's session cookies and CSRF tokens:
/// `DATA/settings-session-key`, created on first use. Nodes that serve one
/// platform share it, so that a session begun on one is valid on all.
pub fn settings_session_key(config: &Config) -> Result<tollgate_web::SessionKey, Failure> {
    Ok(tollgate_web::SessionKey(data_key(config, "settings-session-key")?))
}

/// The guard's key (`DATA/guard-key`, created on first use), from which its
/// cookies', hidden links' and challenges' keys are derived. Nodes that serve
/// one platform share it, so that a cookie or a pass from one is good on all.
pub fn guard_key(config: &Config) -> Result<[u8; 32], Failure> {
    data_key(config, "guard-key")
}

/// A 256-bit key kept in the data directory's file `name` (64 hex digits),
/// created at random on first use, readable by its owner only.
fn data_key(config: &Config, name: &str) -> Result<[u8; 32], Failure> {
    let path = config.data_dir.join(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => t.trim().to_owned(),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Failure::failed(format!("cannot read `{}`: {e}", path.display())));
        }
        _ => {
            let key = random_hex(32)?;
            write_private(&path, &format!("{key}\n"))?;
            key
        }
    };
    hex::decode(&text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Failure::invalid(format!("`{}` must hold 64 hex digits", path.display())))
}

/// The settings page's configuration, as `serve` runs it.
pub fn web_config(config: &Config) -> Result<tollgate_web::WebConfig, Failure> {
    let page = &config.settings_page;
    let keys = tollgate_web::jwt::Keys {
        hs256_secret: settings_jwt_secret(config)?.map(String::into_bytes),
        ed25519_public_key: page
            .ed25519_public_key
            .map(|k| {
                ed25519_dalek_key(&k)
                    .ok_or_else(|| Failure::invalid("`settings_jwt_ed25519_public_key` is not an Ed25519 public key"))
            })
            .transpose()?,
    };
    Ok(tollgate_web::WebConfig {
        keys,
        expect: tollgate_web::jwt::Expect { issuer: page.issuer.clone(), audience: page.audience.clone() },
        session_key: settings_session_key(config)?,
        session_secs: page.session_minutes as i64 * 60,
        // INVARIANT (secure-cookie): the session cookie travels over HTTPS
        // only, except on a loopback listener (a developer's machine or a
        // proxy on the same host), where there is no HTTPS to require.
        secure_cookie: !config.listen.ip().is_loopback(),
        public_url: config.public_url.clone(),
    })
}

fn ed25519_dalek_key(bytes: &[u8; 32]) -> Option<tollgate_web::jwt::PublicKey> {
    tollgate_web::jwt::parse_public_key(&hex::encode(bytes)).ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(listen: &str, dir: &Path) -> Config {
        crate::config::Settings {
            listen: Some(listen.parse().unwrap()),
            data_dir: Some(dir.to_owned()),
            ..crate::config::Settings::default()
        }
        .resolve()
        .unwrap()
    }

    #[test]
    fn the_session_cookie_is_secure_unless_the_listener_is_loopback() {
        let dir = std::env::temp_dir().join(format!("tollgate-web-config-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let public = web_config(&config("0.0.0.0:8080", &dir)).unwrap();
        assert!(public.secure_cookie);
        let loopback = web_config(&config("127.0.0.1:8080", &dir)).unwrap();
        assert!(!loopback.secure_cookie);
        assert!(!web_config(&config("[::1]:8080", &dir)).unwrap().secure_cookie);
        // One session key per data directory, created once and kept.
        assert_eq!(public.session_key.0, loopback.session_key.0);
        assert!(dir.join("settings-session-key").exists());
        // No key configured and no secret file: nobody can sign in.
        assert!(!public.keys.any());
        std::fs::write(dir.join(SETTINGS_JWT_SECRET_FILE), "s".repeat(40)).unwrap();
        assert!(web_config(&config("127.0.0.1:8080", &dir)).unwrap().keys.hs256_secret.is_some());
        std::fs::remove_dir_all(&dir).ok();
    }
}
