//! Configuration: one set of keys that is at once the `tollgate.toml` file,
//! `TOLLGATE_*` environment variables and command-line flags. A flag beats the
//! environment, which beats the file, which beats the built-in default; every
//! default works out of the box. `docs/configuration.md` lists every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;
use tollgate_domain::{ConsentDefaults, RegionSet, Tri};
use tollgate_policy::PolicyMode;

/// Every key, as flags and environment variables; `None` where not given.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where the store, the ledger and generated files live.
    #[arg(long, global = true, env = "TOLLGATE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The address `serve` and `demo` listen on.
    #[arg(long, global = true, env = "TOLLGATE_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// The URL clients reach the server at, for links in responses.
    #[arg(long, global = true, env = "TOLLGATE_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Bearer token of the internal API; generated into DATA/internal-token if unset.
    #[arg(long, global = true, env = "TOLLGATE_INTERNAL_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub internal_token: Option<String>,
    /// A directory of `.cedar` policies that replaces or extends the built-in pack.
    #[arg(long, global = true, env = "TOLLGATE_POLICY_DIR", value_name = "DIR")]
    pub policy_dir: Option<PathBuf>,
    /// `extend` (built-in pack plus the directory) or `replace`.
    #[arg(long, global = true, env = "TOLLGATE_POLICY_MODE", value_name = "MODE")]
    pub policy_mode: Option<String>,
    /// `full` (survives power loss) or `normal` (survives a crash of the process).
    #[arg(long, global = true, env = "TOLLGATE_SYNCHRONOUS", value_name = "MODE")]
    pub synchronous: Option<String>,
    /// Read connections to the embedded store.
    #[arg(long, global = true, env = "TOLLGATE_READ_CONNECTIONS", value_name = "N")]
    pub read_connections: Option<usize>,
    /// Comma-separated ISO 3166 codes whose residents default to `restricted_default`.
    #[arg(long, global = true, env = "TOLLGATE_RESTRICTED_REGIONS", value_name = "CODES")]
    pub restricted_regions: Option<String>,
    /// What an unset AI preference means inside the restricted regions.
    #[arg(long, global = true, env = "TOLLGATE_RESTRICTED_DEFAULT", value_name = "allow|deny")]
    pub restricted_default: Option<String>,
    /// What an unset AI preference means everywhere else.
    #[arg(long, global = true, env = "TOLLGATE_DEFAULT_CONSENT", value_name = "allow|deny")]
    pub default_consent: Option<String>,
    /// Age from which an author with a birth year counts as an adult.
    #[arg(long, global = true, env = "TOLLGATE_ADULT_AGE", value_name = "YEARS")]
    pub adult_age: Option<u16>,
    /// Days apps on the previous agreement keep access after a new version.
    #[arg(long, global = true, env = "TOLLGATE_AGREEMENT_GRACE_DAYS", value_name = "DAYS")]
    pub agreement_grace_days: Option<u32>,
    /// Length of a rate-limit window in seconds.
    #[arg(long, global = true, env = "TOLLGATE_RATE_LIMIT_WINDOW_SECS", value_name = "SECS")]
    pub rate_limit_window_secs: Option<u64>,
    /// Requests per window and endpoint for standard apps (0: unlimited).
    #[arg(long, global = true, env = "TOLLGATE_RATE_LIMIT_STANDARD", value_name = "N")]
    pub rate_limit_standard: Option<u32>,
    /// Requests per window and endpoint for partner apps (0: unlimited).
    #[arg(long, global = true, env = "TOLLGATE_RATE_LIMIT_PARTNER", value_name = "N")]
    pub rate_limit_partner: Option<u32>,
    /// Requests per window and endpoint for first-party apps (0: unlimited).
    #[arg(long, global = true, env = "TOLLGATE_RATE_LIMIT_FIRST_PARTY", value_name = "N")]
    pub rate_limit_first_party: Option<u32>,
    /// Hours a standard app has to act on a compliance obligation.
    #[arg(long, global = true, env = "TOLLGATE_COMPLIANCE_DEADLINE_HOURS_STANDARD", value_name = "HOURS")]
    pub compliance_deadline_hours_standard: Option<u32>,
    /// Hours a partner app has to act on a compliance obligation.
    #[arg(long, global = true, env = "TOLLGATE_COMPLIANCE_DEADLINE_HOURS_PARTNER", value_name = "HOURS")]
    pub compliance_deadline_hours_partner: Option<u32>,
    /// Hours a first-party app has to act on a compliance obligation.
    #[arg(long, global = true, env = "TOLLGATE_COMPLIANCE_DEADLINE_HOURS_FIRST_PARTY", value_name = "HOURS")]
    pub compliance_deadline_hours_first_party: Option<u32>,
    /// Days ledger entries are kept before `serve` (daily) and `ledger prune`
    /// delete them, in whole segments (0: keep them forever).
    #[arg(long, global = true, env = "TOLLGATE_LEDGER_RETENTION_DAYS", value_name = "DAYS")]
    pub ledger_retention_days: Option<u32>,
    /// Accounts `serve` keeps in memory at most.
    #[arg(long, global = true, env = "TOLLGATE_CACHE_ACCOUNTS", value_name = "N")]
    pub cache_accounts: Option<usize>,
    /// Posts `serve` keeps in memory at most (by id and in timelines).
    #[arg(long, global = true, env = "TOLLGATE_CACHE_POSTS", value_name = "N")]
    pub cache_posts: Option<usize>,
    /// The newest posts of an author kept in memory to answer timelines.
    #[arg(long, global = true, env = "TOLLGATE_CACHE_TIMELINE_WINDOW", value_name = "N")]
    pub cache_timeline_window: Option<usize>,
    /// The largest request body `serve` takes (the internal API's batches).
    #[arg(long, global = true, env = "TOLLGATE_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// The longest query string `serve` takes.
    #[arg(long, global = true, env = "TOLLGATE_MAX_QUERY_BYTES", value_name = "BYTES")]
    pub max_query_bytes: Option<usize>,
    /// The most bytes of request headers `serve` takes.
    #[arg(long, global = true, env = "TOLLGATE_MAX_HEADER_BYTES", value_name = "BYTES")]
    pub max_header_bytes: Option<usize>,
    /// The most request header fields `serve` takes.
    #[arg(long, global = true, env = "TOLLGATE_MAX_HEADERS", value_name = "N")]
    pub max_headers: Option<usize>,
    /// Seconds a connection may wait for its next request between requests.
    #[arg(long, global = true, env = "TOLLGATE_IDLE_TIMEOUT_SECS", value_name = "SECS")]
    pub idle_timeout_secs: Option<u64>,
    /// Seconds a request's head may take to arrive, from its first byte.
    #[arg(long, global = true, env = "TOLLGATE_HEADER_READ_TIMEOUT_SECS", value_name = "SECS")]
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds a request's body may take to arrive, from its head.
    #[arg(long, global = true, env = "TOLLGATE_BODY_READ_TIMEOUT_SECS", value_name = "SECS")]
    pub body_read_timeout_secs: Option<u64>,
    /// Connections `serve` holds open at most; more are refused.
    #[arg(long, global = true, env = "TOLLGATE_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// Connections `serve` holds open at most from one client address.
    #[arg(long, global = true, env = "TOLLGATE_MAX_CONNECTIONS_PER_IP", value_name = "N")]
    pub max_connections_per_ip: Option<usize>,
    /// Entries the audit index may lag behind the ledger before `/healthz` fails.
    #[arg(long, global = true, env = "TOLLGATE_HEALTH_MAX_INDEX_LAG", value_name = "ENTRIES")]
    pub health_max_index_lag: Option<u64>,
    /// What is logged, as a `RUST_LOG` filter (`RUST_LOG` itself wins).
    #[arg(long, global = true, env = "TOLLGATE_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,
    /// `text` (one line per event) or `json` (one JSON object per line).
    #[arg(long, global = true, env = "TOLLGATE_LOG_FORMAT", value_name = "text|json")]
    pub log_format: Option<String>,
    /// Whether `serve` logs every request (target `tollgate::access`).
    #[arg(long, global = true, env = "TOLLGATE_ACCESS_LOG", value_name = "true|false")]
    pub access_log: Option<bool>,
    /// The secret the settings page checks HS256 sign-in tokens with (at
    /// least 32 characters); default: DATA/settings-jwt-secret if it exists.
    #[arg(
        long,
        global = true,
        env = "TOLLGATE_SETTINGS_JWT_HS256_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub settings_jwt_hs256_secret: Option<String>,
    /// The Ed25519 public key (32 bytes, hex or base64) the settings page
    /// checks EdDSA sign-in tokens with.
    #[arg(long, global = true, env = "TOLLGATE_SETTINGS_JWT_ED25519_PUBLIC_KEY", value_name = "KEY")]
    pub settings_jwt_ed25519_public_key: Option<String>,
    /// The `iss` every sign-in token must carry (unchecked if unset).
    #[arg(long, global = true, env = "TOLLGATE_SETTINGS_JWT_ISSUER", value_name = "ISSUER")]
    pub settings_jwt_issuer: Option<String>,
    /// A value the `aud` of every sign-in token must hold (unchecked if unset).
    #[arg(long, global = true, env = "TOLLGATE_SETTINGS_JWT_AUDIENCE", value_name = "AUDIENCE")]
    pub settings_jwt_audience: Option<String>,
    /// Minutes a settings-page session lasts after sign-in.
    #[arg(long, global = true, env = "TOLLGATE_SETTINGS_SESSION_MINUTES", value_name = "MINUTES")]
    pub settings_session_minutes: Option<u64>,
    /// A file in ai.robots.txt's `robots.json` format whose user agents
    /// replace the built-in list of AI crawlers robots.txt names.
    #[arg(long, global = true, env = "TOLLGATE_ROBOTS_AGENTS_FILE", value_name = "FILE")]
    pub robots_agents_file: Option<PathBuf>,
    /// Where licensable uses are licensed, for `/license.xml`; default
    /// `<public_url>/agreement`.
    #[arg(long, global = true, env = "TOLLGATE_PARTNER_PROGRAM_URL", value_name = "URL")]
    pub partner_program_url: Option<String>,
    /// Whether the guard judges requests (docs/guard.md).
    #[arg(long, global = true, env = "TOLLGATE_GUARD_ENABLED", value_name = "true|false")]
    pub guard_enabled: Option<bool>,
    /// Comma-separated CIDRs of the proxies whose `X-Forwarded-For` is trusted.
    #[arg(long, global = true, env = "TOLLGATE_GUARD_TRUSTED_PROXIES", value_name = "CIDRS")]
    pub guard_trusted_proxies: Option<String>,
    /// The operator's prefix table: CSV of prefix, ASN, network class.
    #[arg(long, global = true, env = "TOLLGATE_GUARD_PREFIX_TABLE", value_name = "FILE")]
    pub guard_prefix_table: Option<PathBuf>,
    /// The verified crawlers: TOML of names, agents, address ranges and keys.
    #[arg(long, global = true, env = "TOLLGATE_GUARD_CRAWLERS", value_name = "FILE")]
    pub guard_crawlers: Option<PathBuf>,
    /// Seconds a tarpitted request is held.
    #[arg(long, global = true, env = "TOLLGATE_GUARD_TARPIT_SECONDS", value_name = "SECS")]
    pub guard_tarpit_seconds: Option<u64>,
    /// Tarpitted requests held at once at most; beyond it they are blocked.
    #[arg(long, global = true, env = "TOLLGATE_GUARD_TARPIT_MAX_CONCURRENT", value_name = "N")]
    pub guard_tarpit_max_concurrent: Option<usize>,
    /// A directory of `.cedar` guard policies that replaces or extends the built-in guard pack.
    #[arg(long, global = true, env = "TOLLGATE_GUARD_POLICY_DIR", value_name = "DIR")]
    pub guard_policy_dir: Option<PathBuf>,
    /// `extend` (built-in guard pack plus the directory) or `replace`.
    #[arg(long, global = true, env = "TOLLGATE_GUARD_POLICY_MODE", value_name = "MODE")]
    pub guard_policy_mode: Option<String>,
    /// The price of one page to a verified crawler (pay per crawl), as `USD 0.01`.
    #[arg(long, global = true, env = "TOLLGATE_GUARD_CRAWL_PRICE", value_name = "PRICE")]
    pub guard_crawl_price: Option<String>,
}

/// The guard's configuration keys, as given; `serve` reads the files and
/// checks the addresses when it starts (docs/guard.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardSettings {
    pub enabled: bool,
    pub trusted_proxies: Vec<String>,
    pub prefix_table: Option<PathBuf>,
    pub crawlers: Option<PathBuf>,
    pub tarpit_seconds: u64,
    pub tarpit_max_concurrent: usize,
}

/// What the process logs, and how (`crate::logging`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A `RUST_LOG`-style filter, checked when the configuration is read.
    pub level: String,
    pub format: LogFormat,
    /// One line per request, target `tollgate::access`, level `info`.
    pub access: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The settings page's sign-in and sessions (`tollgate_web`).
#[derive(Clone, PartialEq, Eq)]
pub struct SettingsPage {
    /// Configured; else `DATA/settings-jwt-secret` (`runtime::settings_jwt_secret`).
    pub hs256_secret: Option<String>,
    pub ed25519_public_key: Option<[u8; 32]>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub session_minutes: u64,
}

impl std::fmt::Debug for SettingsPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret is never printed.
        f.debug_struct("SettingsPage")
            .field("hs256_secret", &self.hs256_secret.as_ref().map(|_| "<set>"))
            .field("ed25519_public_key", &self.ed25519_public_key.map(hex::encode))
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("session_minutes", &self.session_minutes)
            .finish()
    }
}

/// How `serve` treats connections (`crate::connections`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub idle_timeout: std::time::Duration,
    pub header_read_timeout: std::time::Duration,
    pub body_read_timeout: std::time::Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
}

impl ConnectionLimits {
    pub const DEFAULT: ConnectionLimits = ConnectionLimits {
        idle_timeout: std::time::Duration::from_secs(60),
        header_read_timeout: std::time::Duration::from_secs(10),
        body_read_timeout: std::time::Duration::from_secs(30),
        max_connections: 1024,
        max_connections_per_ip: 256,
    };
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub public_url: String,
    pub internal_token: Option<String>,
    pub policy_dir: Option<PathBuf>,
    pub policy_mode: PolicyMode,
    pub synchronous: tollgate_store_sqlite::Synchronous,
    pub read_connections: usize,
    pub consent: ConsentDefaults,
    pub agreement_grace_days: u32,
    pub rate_limits: tollgate_api::RateLimits,
    /// Days ledger entries are kept; `None`: forever (configured as 0).
    pub ledger_retention_days: Option<u32>,
    /// How long recipients have to act on compliance obligations, by tier.
    pub deadlines: tollgate_api::obligations::Deadlines,
    pub cache: tollgate_cache::CacheConfig,
    pub http_limits: tollgate_api::HttpLimits,
    pub connections: ConnectionLimits,
    pub health: tollgate_api::HealthLimits,
    pub log: LogConfig,
    pub settings_page: SettingsPage,
    /// The `robots.json` file replacing the built-in AI crawlers (read by `serve`).
    pub robots_agents_file: Option<PathBuf>,
    /// Where licensable uses are licensed; `None`: `<public_url>/agreement`.
    pub partner_program_url: Option<String>,
    pub guard: GuardSettings,
    /// The guard policy's directory and mode (`docs/guard.md`).
    pub guard_policy_dir: Option<PathBuf>,
    pub guard_policy_mode: PolicyMode,
    /// The price of one page under pay per crawl.
    pub guard_crawl_price: tollgate_api::guard_response::Price,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read `{path}`: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("`{path}`: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid `{key}` = `{value}`: {expected}")]
    Invalid { key: &'static str, value: String, expected: &'static str },
}

impl Settings {
    /// Fills what flags and environment left unset from the file at `path`.
    /// The file is optional unless it was named explicitly.
    pub fn with_file(mut self, path: &Path, explicit: bool) -> Result<Settings, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => return Ok(self),
            Err(source) => return Err(ConfigError::Read { path: path.to_owned(), source }),
        };
        let file: Settings =
            toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })?;
        macro_rules! fill {
            ($($k:ident),*) => { $( if self.$k.is_none() { self.$k = file.$k; } )* };
        }
        fill!(
            data_dir,
            listen,
            public_url,
            internal_token,
            policy_dir,
            policy_mode,
            synchronous,
            read_connections,
            restricted_regions,
            restricted_default,
            default_consent,
            adult_age,
            agreement_grace_days,
            rate_limit_window_secs,
            rate_limit_standard,
            rate_limit_partner,
            rate_limit_first_party,
            ledger_retention_days,
            compliance_deadline_hours_standard,
            compliance_deadline_hours_partner,
            compliance_deadline_hours_first_party,
            cache_accounts,
            cache_posts,
            cache_timeline_window,
            max_body_bytes,
            max_query_bytes,
            max_header_bytes,
            max_headers,
            idle_timeout_secs,
            header_read_timeout_secs,
            body_read_timeout_secs,
            max_connections,
            max_connections_per_ip,
            health_max_index_lag,
            robots_agents_file,
            partner_program_url,
            guard_enabled,
            guard_trusted_proxies,
            guard_prefix_table,
            guard_crawlers,
            guard_tarpit_seconds,
            guard_tarpit_max_concurrent,
            log_level,
            log_format,
            access_log,
            settings_jwt_hs256_secret,
            settings_jwt_ed25519_public_key,
            settings_jwt_issuer,
            settings_jwt_audience,
            settings_session_minutes,
            guard_policy_dir,
            guard_policy_mode,
            guard_crawl_price
        );
        Ok(self)
    }

    pub fn resolve(self) -> Result<Config, ConfigError> {
        let listen = self.listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let tri = |key: &'static str, v: Option<String>, default: Tri| -> Result<Tri, ConfigError> {
            match v.as_deref() {
                None => Ok(default),
                Some("allow") => Ok(Tri::Allow),
                Some("deny") => Ok(Tri::Deny),
                Some(other) => {
                    Err(ConfigError::Invalid { key, value: other.to_owned(), expected: "`allow` or `deny`" })
                }
            }
        };
        let defaults = ConsentDefaults::default();
        let restricted_regions = match self.restricted_regions {
            None => defaults.restricted_regions,
            Some(list) => {
                let codes = list.split(',').map(str::trim).filter(|c| !c.is_empty());
                RegionSet::of(codes).map_err(|bad| ConfigError::Invalid {
                    key: "restricted_regions",
                    value: bad.to_owned(),
                    expected: "a comma-separated list of ISO 3166-1 alpha-2 codes such as `DE,FR`",
                })?
            }
        };
        let consent = ConsentDefaults {
            restricted_regions,
            restricted_default: tri("restricted_default", self.restricted_default, defaults.restricted_default)?,
            default: tri("default_consent", self.default_consent, defaults.default)?,
            adult_age: self.adult_age.unwrap_or(defaults.adult_age),
        };
        let mode = |key: &'static str, v: Option<String>| match v.as_deref() {
            None | Some("extend") => Ok(PolicyMode::Extend),
            Some("replace") => Ok(PolicyMode::Replace),
            Some(other) => {
                Err(ConfigError::Invalid { key, value: other.to_owned(), expected: "`extend` or `replace`" })
            }
        };
        let policy_mode = mode("policy_mode", self.policy_mode)?;
        let guard_policy_mode = mode("guard_policy_mode", self.guard_policy_mode)?;
        let guard_crawl_price = match self.guard_crawl_price {
            None => tollgate_api::guard_response::Price::DEFAULT,
            Some(text) => text.parse().map_err(|_| ConfigError::Invalid {
                key: "guard_crawl_price",
                value: text,
                expected: "a currency code and an amount with at most six decimals, such as `USD 0.01`",
            })?,
        };
        let synchronous = match self.synchronous.as_deref() {
            None | Some("full") => tollgate_store_sqlite::Synchronous::Full,
            Some("normal") => tollgate_store_sqlite::Synchronous::Normal,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    key: "synchronous",
                    value: other.to_owned(),
                    expected: "`full` or `normal`",
                });
            }
        };
        let positive = |key: &'static str, v: Option<usize>, default: usize| -> Result<usize, ConfigError> {
            match v {
                None => Ok(default),
                Some(0) => Err(ConfigError::Invalid { key, value: "0".into(), expected: "a positive number" }),
                Some(n) => Ok(n),
            }
        };
        let http = tollgate_api::HttpLimits::DEFAULT;
        let http_limits = tollgate_api::HttpLimits {
            max_body_bytes: positive("max_body_bytes", self.max_body_bytes, http.max_body_bytes)?,
            max_query_bytes: positive("max_query_bytes", self.max_query_bytes, http.max_query_bytes)?,
            max_header_bytes: positive("max_header_bytes", self.max_header_bytes, http.max_header_bytes)?,
            max_headers: positive("max_headers", self.max_headers, http.max_headers)?,
        };
        let conn = ConnectionLimits::DEFAULT;
        let secs = |key: &'static str, v: Option<u64>, default: std::time::Duration| {
            positive(key, v.map(|s| s as usize), default.as_secs() as usize)
                .map(|s| std::time::Duration::from_secs(s as u64))
        };
        let connections = ConnectionLimits {
            idle_timeout: secs("idle_timeout_secs", self.idle_timeout_secs, conn.idle_timeout)?,
            header_read_timeout: secs(
                "header_read_timeout_secs",
                self.header_read_timeout_secs,
                conn.header_read_timeout,
            )?,
            body_read_timeout: secs("body_read_timeout_secs", self.body_read_timeout_secs, conn.body_read_timeout)?,
            max_connections: positive("max_connections", self.max_connections, conn.max_connections)?,
            max_connections_per_ip: positive(
                "max_connections_per_ip",
                self.max_connections_per_ip,
                conn.max_connections_per_ip,
            )?,
        };
        let level = self.log_level.unwrap_or_else(|| "info".to_owned());
        if tracing_subscriber::EnvFilter::builder().parse(&level).is_err() {
            return Err(ConfigError::Invalid {
                key: "log_level",
                value: level,
                expected: "a level (`error`, `warn`, `info`, `debug`, `trace`) or a `RUST_LOG` filter such as \
                           `info,tollgate::access=off`",
            });
        }
        let format = match self.log_format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    key: "log_format",
                    value: other.to_owned(),
                    expected: "`text` or `json`",
                });
            }
        };
        let log = LogConfig { level, format, access: self.access_log.unwrap_or(true) };
        let health = tollgate_api::HealthLimits {
            max_index_lag: self.health_max_index_lag.unwrap_or(tollgate_api::HealthLimits::DEFAULT.max_index_lag),
        };
        let settings_page = settings_page(
            self.settings_jwt_hs256_secret,
            self.settings_jwt_ed25519_public_key,
            self.settings_jwt_issuer,
            self.settings_jwt_audience,
            self.settings_session_minutes,
        )?;
        let limits = tollgate_api::RateLimits::default();
        let cache = tollgate_cache::CacheConfig::DEFAULT;
        Ok(Config {
            data_dir: self.data_dir.unwrap_or_else(|| PathBuf::from("data")),
            listen,
            public_url: self.public_url.unwrap_or_else(|| format!("http://{listen}")),
            internal_token: self.internal_token.filter(|t| !t.is_empty()),
            policy_dir: self.policy_dir,
            policy_mode,
            synchronous,
            read_connections: self.read_connections.unwrap_or(4).max(1),
            consent,
            agreement_grace_days: self.agreement_grace_days.unwrap_or(30),
            rate_limits: tollgate_api::RateLimits {
                window_secs: self.rate_limit_window_secs.unwrap_or(limits.window_secs).max(1),
                standard: self.rate_limit_standard.unwrap_or(limits.standard),
                partner: self.rate_limit_partner.unwrap_or(limits.partner),
                first_party: self.rate_limit_first_party.unwrap_or(limits.first_party),
            },
            ledger_retention_days: match self.ledger_retention_days {
                None => Some(tollgate_ledger::LEDGER_RETENTION_DAYS),
                Some(0) => None,
                Some(days) => Some(days),
            },
            deadlines: {
                let hours = tollgate_api::obligations::Deadlines::default().hours;
                tollgate_api::obligations::Deadlines {
                    hours: [
                        self.compliance_deadline_hours_standard.unwrap_or(hours[0]),
                        self.compliance_deadline_hours_partner.unwrap_or(hours[1]),
                        self.compliance_deadline_hours_first_party.unwrap_or(hours[2]),
                    ],
                }
            },
            cache: tollgate_cache::CacheConfig {
                accounts: self.cache_accounts.unwrap_or(cache.accounts),
                posts: self.cache_posts.unwrap_or(cache.posts),
                timeline_window: self.cache_timeline_window.unwrap_or(cache.timeline_window),
            },
            http_limits,
            connections,
            health,
            log,
            settings_page,
            robots_agents_file: self.robots_agents_file,
            partner_program_url: self.partner_program_url.filter(|u| !u.is_empty()),
            guard: GuardSettings {
                enabled: self.guard_enabled.unwrap_or(true),
                trusted_proxies: self
                    .guard_trusted_proxies
                    .unwrap_or_default()
                    .split(',')
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect(),
                prefix_table: self.guard_prefix_table,
                crawlers: self.guard_crawlers,
                tarpit_seconds: positive("guard_tarpit_seconds", self.guard_tarpit_seconds.map(|s| s as usize), 10)?
                    as u64,
                tarpit_max_concurrent: positive("guard_tarpit_max_concurrent", self.guard_tarpit_max_concurrent, 64)?,
            },
            guard_policy_dir: self.guard_policy_dir,
            guard_policy_mode,
            guard_crawl_price,
        })
    }
}

/// The settings page's keys, checked: a secret too short to resist guessing
/// and a public key that is not one are refused at start, not at sign-in.
fn settings_page(
    secret: Option<String>,
    public_key: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    minutes: Option<u64>,
) -> Result<SettingsPage, ConfigError> {
    let secret = secret.filter(|s| !s.is_empty());
    if let Some(s) = &secret
        && s.len() < 32
    {
        return Err(ConfigError::Invalid {
            key: "settings_jwt_hs256_secret",
            value: "<hidden>".into(),
            expected: "a secret of at least 32 characters (256 bits of a random hex string, say)",
        });
    }
    let ed25519_public_key = public_key
        .filter(|k| !k.is_empty())
        .map(|k| {
            tollgate_web::jwt::parse_public_key(&k).map(|key| key.to_bytes()).map_err(|_| ConfigError::Invalid {
                key: "settings_jwt_ed25519_public_key",
                value: k,
                expected: "an Ed25519 public key: 32 bytes as 64 hex digits or in base64",
            })
        })
        .transpose()?;
    let session_minutes = match minutes {
        None => 60,
        Some(m @ 1..=10_080) => m,
        Some(other) => {
            return Err(ConfigError::Invalid {
                key: "settings_session_minutes",
                value: other.to_string(),
                expected: "a number of minutes from 1 to 10080 (a week)",
            });
        }
    };
    Ok(SettingsPage {
        hs256_secret: secret,
        ed25519_public_key,
        issuer: issuer.filter(|s| !s.is_empty()),
        audience: audience.filter(|s| !s.is_empty()),
        session_minutes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = std::env::temp_dir().join(format!("tollgate-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tollgate.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nadult_age = 16\nrate_limit_standard = 5\nmax_query_bytes = 4096\n",
        )
        .unwrap();
        let flags = Settings { adult_age: Some(21), ..Settings::default() };
        let c = flags.with_file(&file, true).unwrap().resolve().unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.http_limits.max_query_bytes, 4096);
        assert_eq!(c.consent.adult_age, 21);
        assert_eq!(c.rate_limits.standard, 5);
        assert_eq!(c.public_url, "http://127.0.0.1:9000");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let dir = std::env::temp_dir().join(format!("tollgate-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tollgate.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let err = Settings::default().with_file(&file, true).unwrap_err().to_string();
        assert!(err.contains("lisen"), "{err}");
        let bad = Settings { restricted_default: Some("maybe".into()), ..Settings::default() };
        assert!(bad.resolve().unwrap_err().to_string().contains("restricted_default"));
        let bad = Settings { max_body_bytes: Some(0), ..Settings::default() };
        assert!(bad.resolve().unwrap_err().to_string().contains("max_body_bytes"));
        let bad = Settings { restricted_regions: Some("DE, F1,US".into()), ..Settings::default() };
        let err = bad.resolve().unwrap_err().to_string();
        assert!(err.contains("restricted_regions") && err.contains("`F1`"), "{err}");
        let good = Settings { restricted_regions: Some(" de,US ,".into()), ..Settings::default() };
        let regions = good.resolve().unwrap().consent.restricted_regions;
        assert_eq!(regions.codes().collect::<Vec<_>>(), ["DE", "US"]);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_shipped_tollgate_toml_states_the_defaults() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tollgate.toml");
        let from_file = Settings::default().with_file(&shipped, true).unwrap().resolve().unwrap();
        let built_in = Settings::default().resolve().unwrap();
        assert_eq!(format!("{from_file:?}"), format!("{built_in:?}"));
    }

    #[test]
    fn the_terms_keys_are_read_and_an_empty_partner_url_is_the_default() {
        let dir = std::env::temp_dir().join(format!("tollgate-config-terms-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tollgate.toml");
        std::fs::write(&file, "robots_agents_file = \"agents.json\"\npartner_program_url = \"https://p.example\"\n")
            .unwrap();
        let c = Settings::default().with_file(&file, true).unwrap().resolve().unwrap();
        assert_eq!(c.robots_agents_file, Some(PathBuf::from("agents.json")));
        assert_eq!(c.partner_program_url.as_deref(), Some("https://p.example"));
        let empty = Settings { partner_program_url: Some(String::new()), ..Settings::default() };
        assert_eq!(empty.resolve().unwrap().partner_program_url, None);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn defaults_work_without_a_file() {
        let c =
            Settings::default().with_file(Path::new("/nonexistent/tollgate.toml"), false).unwrap().resolve().unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("data"));
        assert_eq!(c.ledger_retention_days, Some(730));
    }

    #[test]
    fn settings_page_keys_are_checked_when_read() {
        let short = Settings { settings_jwt_hs256_secret: Some("too short".into()), ..Settings::default() };
        let err = short.resolve().unwrap_err().to_string();
        assert!(err.contains("settings_jwt_hs256_secret") && !err.contains("too short"), "{err}");
        let bad_key = Settings { settings_jwt_ed25519_public_key: Some("abcd".into()), ..Settings::default() };
        assert!(bad_key.resolve().unwrap_err().to_string().contains("settings_jwt_ed25519_public_key"));
        let forever = Settings { settings_session_minutes: Some(0), ..Settings::default() };
        assert!(forever.resolve().unwrap_err().to_string().contains("settings_session_minutes"));
        let good = Settings {
            settings_jwt_hs256_secret: Some("x".repeat(32)),
            settings_jwt_ed25519_public_key: Some(
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a".into(),
            ),
            settings_session_minutes: Some(15),
            ..Settings::default()
        };
        let page = good.resolve().unwrap().settings_page;
        assert_eq!(page.session_minutes, 15);
        assert!(page.ed25519_public_key.is_some());
        assert!(!format!("{page:?}").contains("xxxx"), "the secret is never printed");
    }

    #[test]
    fn the_guard_keys_are_read_and_checked() {
        let c = Settings::default().resolve().unwrap();
        assert_eq!((c.guard_policy_dir, c.guard_policy_mode), (None, PolicyMode::Extend));
        assert_eq!(c.guard_crawl_price.to_string(), "USD 0.01");
        let set = Settings {
            guard_policy_dir: Some("guard".into()),
            guard_policy_mode: Some("replace".into()),
            guard_crawl_price: Some("EUR 0.5".into()),
            ..Settings::default()
        };
        let c = set.resolve().unwrap();
        assert_eq!(c.guard_policy_dir, Some(PathBuf::from("guard")));
        assert_eq!(c.guard_policy_mode, PolicyMode::Replace);
        assert_eq!(c.guard_crawl_price.to_string(), "EUR 0.50");
        let bad = Settings { guard_crawl_price: Some("0.01 dollars".into()), ..Settings::default() };
        assert!(bad.resolve().unwrap_err().to_string().contains("guard_crawl_price"));
        let bad = Settings { guard_policy_mode: Some("merge".into()), ..Settings::default() };
        assert!(bad.resolve().unwrap_err().to_string().contains("guard_policy_mode"));
    }

    #[test]
    fn a_ledger_retention_of_zero_days_keeps_entries_forever() {
        let keep = Settings { ledger_retention_days: Some(0), ..Settings::default() }.resolve().unwrap();
        assert_eq!(keep.ledger_retention_days, None);
        let year = Settings { ledger_retention_days: Some(365), ..Settings::default() }.resolve().unwrap();
        assert_eq!(year.ledger_retention_days, Some(365));
    }
}
