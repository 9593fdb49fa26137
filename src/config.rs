//! Configuration: the compiled-in `config/default.toml`, an optional file
//! named on the command line, then environment variables
//! (`DATAMARKET__SECTION__KEY`; `DATABASE_URL` as a shorthand for
//! `DATAMARKET__DATABASE__URL`). Everything is checked once at start so that a
//! typo is a readable error instead of a surprise under load.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

const DEFAULTS: &str = include_str!("../config/default.toml");
const ENV_PREFIX: &str = "DATAMARKET";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("could not read configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid configuration: {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub storage: StorageSettings,
    pub limits: LimitSettings,
    pub auth: AuthSettings,
    pub catalog: CatalogSettings,
    pub lineage: LineageSettings,
    pub grants: GrantSettings,
    pub audit: AuditSettings,
    pub throttle: ThrottleSettings,
    pub cors: CorsSettings,
    pub trading: TradingSettings,
    pub supervision: SupervisionSettings,
    pub events: EventSettings,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub bind: String,
    pub workers: usize,
    pub shutdown_timeout_secs: u64,
    pub client_request_timeout_secs: u64,
    pub public_url: String,
    /// Bytes of public catalog answers kept between requests (0 = none).
    pub public_answers_bytes: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub pool_size: u32,
    pub connection_timeout_secs: u64,
    pub sqlite_busy_timeout_ms: u64,
    pub statement_timeout_ms: u64,
    pub retries: u32,
}

/// Which database a URL names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("unsupported database URL scheme {0:?} (use sqlite:// or postgres://)")]
    Scheme(String),
    #[error("empty SQLite path")]
    EmptyPath,
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> std::result::Result<Self, UrlError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        let path = match url.split_once("://") {
            Some(("sqlite", path)) => path,
            Some((scheme, _)) => return Err(UrlError::Scheme(scheme.to_owned())),
            None => url.strip_prefix("sqlite:").unwrap_or(url),
        };
        if path.is_empty() {
            return Err(UrlError::EmptyPath);
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    pub data_dir: PathBuf,
    pub backend: StorageBackend,
    pub objects_dir: PathBuf,
    pub s3: S3Settings,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    File,
    S3,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    pub bucket: String,
    pub region: String,
    pub endpoint: String,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub allow_http: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub json_body_bytes: usize,
    pub upload_bytes: u64,
    pub page_size_default: u32,
    pub page_size_max: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub token_lifetime_secs: u64,
    pub issuer: String,
    pub keys_dir: PathBuf,
    pub min_password_chars: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSettings {
    /// The market's home territory (ISO 3166-1 alpha-2); what "not abroad" means.
    pub home_territory: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineageSettings {
    pub default_depth: u32,
    pub max_depth: u32,
    pub max_nodes: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantSettings {
    pub request_ttl_secs: u64,
    pub max_duration_days: u32,
    pub max_downloads: u32,
    pub data_token_lifetime_secs: u64,
    pub sweep_interval_secs: u64,
    /// How long before its end a grant's coming expiry is told to its
    /// parties (the `grant.expiring` event), once (seconds).
    pub expiry_notice_secs: u64,
    pub cross_border: CrossBorderSettings,
}

/// Where the law's tiers for sending personal information abroad begin,
/// counted in individuals (personal information subjects) per request.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossBorderSettings {
    /// From this many, only a security assessment will do.
    pub assessment_subjects: u64,
    /// From this many (and below `assessment_subjects`), a standard
    /// contract or a certification will do too; below it, an exemption.
    pub exemption_subjects: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// The origin line of C2SP checkpoints; defaults to the public URL's host
    /// and path, or "datamarket" when no public URL is set.
    pub origin: String,
    /// Witnesses that cosign the log's checkpoints (C2SP tlog-witness).
    pub witnesses: Vec<WitnessSettings>,
    /// How many witnesses must cosign a checkpoint for it to be served as
    /// witnessed; 0 = all of them.
    pub witness_quorum: usize,
    /// How often each instance sends the newest checkpoint to its witnesses.
    pub witness_interval_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessSettings {
    /// The witness's submission prefix (`<url>/add-checkpoint`).
    pub url: String,
    /// Its cosigning key as a signed-note vkey (`name+keyid+base64`).
    pub vkey: String,
}

impl AuditSettings {
    /// The quorum with 0 read as "all witnesses".
    pub fn quorum(&self) -> usize {
        if self.witness_quorum == 0 {
            self.witnesses.len()
        } else {
            self.witness_quorum
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSettings {
    /// Failed logins for one account name from one client address in
    /// `window_secs` before that address is locked out of that name (with
    /// backoff).
    pub failures_per_account: u32,
    /// Failed logins per client address in `window_secs`, across names.
    pub failures_per_address: u32,
    /// Failed logins for one name across addresses in `window_secs` before
    /// the name is locked for addresses that never logged in to it.
    pub failures_per_name: u32,
    pub window_secs: u64,
    /// The longest a backoff lock lasts.
    pub max_lock_secs: u64,
    /// Take the client address from X-Forwarded-For / Forwarded (only
    /// behind a load balancer that sets them).
    pub trust_forwarded_for: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    /// Origins allowed to call the API from a browser; empty = CORS off.
    pub allowed_origins: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradingSettings {
    /// The platform's fee on every sale, in basis points of the price.
    pub platform_fee_bps: u32,
    /// The secret shared with the payment provider, with which it signs
    /// its callbacks; empty = callbacks refused.
    pub payment_secret: Secret,
}

/// Webhooks and the event stream: how the dispatcher reads the log, how it
/// sends, and how it retries.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSettings {
    /// How often the dispatcher reads the log's new entries and sends what
    /// is due (milliseconds).
    pub dispatch_interval_ms: u64,
    /// The most log entries one round fans out.
    pub dispatch_batch: u32,
    /// The most deliveries one instance sends at once.
    pub concurrency: u32,
    /// How long a receiver has to answer (milliseconds).
    pub timeout_ms: u64,
    /// The wait before the second attempt (milliseconds); each later wait
    /// doubles, up to `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Attempts before a delivery is given up as failed (it can still be
    /// sent again by hand).
    pub max_attempts: u32,
    /// Webhooks per account.
    pub max_subscriptions: u32,
    /// Whether webhooks may point at loopback, private or link-local
    /// addresses. Off in production: a webhook must not reach into the
    /// market's own network.
    pub allow_private_targets: bool,
    /// How often the event stream looks for new entries (milliseconds).
    pub stream_poll_ms: u64,
}

/// The early-warning watch: how often it reads the log, and each rule's
/// threshold. A rule counts entries in a window of time ending at the entry
/// that set it off.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisionSettings {
    /// How often the watch reads the log's new entries (milliseconds).
    pub watch_interval_ms: u64,
    /// The most log entries one round reads.
    pub watch_batch: u32,
    pub delivery_surge: DeliverySurge,
    pub personal_data_sweep: PersonalDataSweep,
    pub refused_deliveries: RefusedDeliveries,
    pub cross_border_important: CrossBorderImportant,
}

/// A grant delivering far more in `window_secs` than it usually does.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySurge {
    pub window_secs: u64,
    /// The history its usual rate is taken from (ending where the window
    /// starts).
    pub history_secs: u64,
    /// How many times its usual rate (at least one delivery per window).
    pub factor: u32,
    /// Fewer deliveries than this in the window never alert.
    pub min_deliveries: u32,
}

/// One consumer asking for many datasets holding personal information.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonalDataSweep {
    pub window_secs: u64,
    pub datasets: u32,
}

/// Deliveries refused again and again on one grant, or to one account.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusedDeliveries {
    pub window_secs: u64,
    pub refusals: u32,
}

/// Cross-border requests for important data to one destination.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossBorderImportant {
    pub window_secs: u64,
    pub requests: u32,
}

/// A configuration value that must never reach a log line.
#[derive(Clone, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

impl Settings {
    /// Defaults, then `file`, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// The compiled-in defaults alone, for tests and tools.
    pub fn defaults() -> Result<Settings, ConfigError> {
        Self::load_from(None, std::iter::empty())
    }

    fn load_from(
        file: Option<&Path>,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let env: std::collections::HashMap<String, String> = env.collect();
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(config::File::from(path).required(true));
        }
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("cors.allowed_origins")
                .try_parsing(true)
                .source(Some(env.clone().into_iter().collect())),
        );
        let explicit = format!("{ENV_PREFIX}__DATABASE__URL");
        if !env.contains_key(&explicit)
            && let Some(url) = env.get("DATABASE_URL").filter(|u| !u.is_empty())
        {
            builder = builder.set_override("database.url", url.clone())?;
        }
        let mut settings: Settings = builder.build()?.try_deserialize()?;
        settings.resolve_paths();
        settings.validate()?;
        Ok(settings)
    }

    fn resolve_paths(&mut self) {
        if self.storage.objects_dir.as_os_str().is_empty() {
            self.storage.objects_dir = self.storage.data_dir.join("objects");
        }
        if self.auth.keys_dir.as_os_str().is_empty() {
            self.auth.keys_dir = self.storage.data_dir.join("keys");
        }
        if self.audit.origin.is_empty() {
            self.audit.origin = self.default_origin();
        }
    }

    fn default_origin(&self) -> String {
        let url = self.server.public_url.trim_end_matches('/');
        let without_scheme = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
        if without_scheme.is_empty() {
            "datamarket".to_owned()
        } else {
            format!("{without_scheme}/audit")
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.bind_addr()?;
        if self.database.url.expose().trim().is_empty() {
            return Err(invalid("database.url", "must not be empty"));
        }
        DatabaseUrl::parse(self.database.url.expose())
            .map_err(|e| invalid("database.url", e.to_string()))?;
        if self.database.pool_size == 0 {
            return Err(invalid("database.pool_size", "must be at least 1"));
        }
        if self.database.connection_timeout_secs == 0 {
            return Err(invalid(
                "database.connection_timeout_secs",
                "must be at least 1",
            ));
        }
        if self.storage.backend == StorageBackend::S3 && self.storage.s3.bucket.is_empty() {
            return Err(invalid(
                "storage.s3.bucket",
                "is required when storage.backend = \"s3\"",
            ));
        }
        if self.limits.json_body_bytes < 1024 {
            return Err(invalid("limits.json_body_bytes", "must be at least 1024"));
        }
        if self.limits.upload_bytes == 0 {
            return Err(invalid("limits.upload_bytes", "must be at least 1"));
        }
        if self.limits.page_size_max == 0 || self.limits.page_size_default == 0 {
            return Err(invalid(
                "limits.page_size_max",
                "page sizes must be at least 1",
            ));
        }
        if self.limits.page_size_default > self.limits.page_size_max {
            return Err(invalid(
                "limits.page_size_default",
                "must not exceed limits.page_size_max",
            ));
        }
        if self.auth.token_lifetime_secs == 0 {
            return Err(invalid("auth.token_lifetime_secs", "must be at least 1"));
        }
        if self.auth.min_password_chars < 8 {
            return Err(invalid("auth.min_password_chars", "must be at least 8"));
        }
        if !crate::domain::is_country_code(&self.catalog.home_territory) {
            return Err(invalid(
                "catalog.home_territory",
                "must be an ISO 3166-1 alpha-2 code such as \"CN\"",
            ));
        }
        if self.lineage.max_depth == 0 || self.lineage.default_depth == 0 {
            return Err(invalid("lineage.max_depth", "depths must be at least 1"));
        }
        if self.lineage.default_depth > self.lineage.max_depth {
            return Err(invalid(
                "lineage.default_depth",
                "must not exceed lineage.max_depth",
            ));
        }
        if self.grants.request_ttl_secs == 0 || self.grants.max_duration_days == 0 {
            return Err(invalid(
                "grants.request_ttl_secs",
                "the request lifetime and the longest grant must be at least 1",
            ));
        }
        if self.grants.max_downloads == 0 {
            return Err(invalid("grants.max_downloads", "must be at least 1"));
        }
        if self.grants.data_token_lifetime_secs == 0 || self.grants.sweep_interval_secs == 0 {
            return Err(invalid(
                "grants.data_token_lifetime_secs",
                "must be at least 1",
            ));
        }
        if self.grants.cross_border.exemption_subjects
            > self.grants.cross_border.assessment_subjects
        {
            return Err(invalid(
                "grants.cross_border.exemption_subjects",
                "must not exceed grants.cross_border.assessment_subjects",
            ));
        }
        if !crate::domain::is_note_key_name(&self.audit.origin) {
            // The origin is also the checkpoints' signed-note key name.
            return Err(invalid(
                "audit.origin",
                "must be one non-empty word without spaces or \"+\" (e.g. example.com/audit)",
            ));
        }
        if self.audit.witness_quorum > self.audit.witnesses.len() {
            return Err(invalid(
                "audit.witness_quorum",
                "must not exceed the number of audit.witnesses",
            ));
        }
        if self.audit.witness_interval_secs == 0 {
            return Err(invalid("audit.witness_interval_secs", "must be at least 1"));
        }
        if self.audit.witnesses.iter().any(|w| {
            !(w.url.starts_with("http://") || w.url.starts_with("https://")) || w.vkey.is_empty()
        }) {
            return Err(invalid(
                "audit.witnesses",
                "every witness needs an http(s) url and a vkey",
            ));
        }
        if self.trading.platform_fee_bps > 5_000 {
            return Err(invalid(
                "trading.platform_fee_bps",
                "must be at most 5000 (50%)",
            ));
        }
        let events = &self.events;
        if events.dispatch_interval_ms == 0
            || events.dispatch_batch == 0
            || events.concurrency == 0
            || events.timeout_ms == 0
            || events.retry_base_ms == 0
            || events.max_attempts == 0
            || events.stream_poll_ms == 0
        {
            return Err(invalid(
                "events",
                "intervals, batch, concurrency, timeout, retry_base_ms and max_attempts must be at least 1",
            ));
        }
        if events.retry_max_ms < events.retry_base_ms {
            return Err(invalid(
                "events.retry_max_ms",
                "must be at least events.retry_base_ms",
            ));
        }
        let watch = &self.supervision;
        // An alert keeps at most 100 indexes as evidence, and a resolved one
        // is raised again on as many new ones as its threshold.
        let counted = [
            watch.delivery_surge.min_deliveries,
            watch.personal_data_sweep.datasets,
            watch.refused_deliveries.refusals,
            watch.cross_border_important.requests,
        ];
        if counted.iter().any(|n| *n > 100) {
            return Err(invalid(
                "supervision",
                "the counting thresholds (min_deliveries, datasets, refusals, requests) must be at most 100",
            ));
        }
        if watch.watch_interval_ms == 0
            || watch.watch_batch == 0
            || watch.delivery_surge.window_secs == 0
            || watch.delivery_surge.history_secs <= watch.delivery_surge.window_secs
            || watch.delivery_surge.factor == 0
            || watch.delivery_surge.min_deliveries == 0
            || watch.personal_data_sweep.window_secs == 0
            || watch.personal_data_sweep.datasets == 0
            || watch.refused_deliveries.window_secs == 0
            || watch.refused_deliveries.refusals == 0
            || watch.cross_border_important.window_secs == 0
            || watch.cross_border_important.requests == 0
        {
            return Err(invalid(
                "supervision",
                "intervals, windows and thresholds must be at least 1, and delivery_surge.history_secs longer than its window",
            ));
        }
        if self.throttle.window_secs == 0
            || self.throttle.failures_per_account == 0
            || self.throttle.failures_per_address == 0
            || self.throttle.failures_per_name == 0
            || self.throttle.max_lock_secs < self.throttle.window_secs
        {
            return Err(invalid(
                "throttle",
                "window and failure counts must be at least 1, max_lock_secs at least the window",
            ));
        }
        Ok(())
    }

    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.bind.parse().map_err(|_| {
            invalid(
                "server.bind",
                format!("{:?} is not HOST:PORT", self.server.bind),
            )
        })
    }
}

/// Creates a directory only its owner may enter (0700), with its parents,
/// when it does not exist yet; an existing directory is left as the
/// operator made it. The data directory holds password hashes, payloads and
/// the platform key.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Makes a file readable and writable by its owner only (0600).
pub fn make_private_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn defaults_are_valid() {
        let s = Settings::defaults().unwrap();
        assert_eq!(s.server.bind, "127.0.0.1:8080");
        assert_eq!(s.storage.objects_dir, PathBuf::from("data/objects"));
        assert_eq!(s.audit.origin, "datamarket");
        assert_eq!(s.grants.cross_border.assessment_subjects, 1_000_000);
        assert_eq!(s.grants.cross_border.exemption_subjects, 100_000);
    }

    #[test]
    fn environment_overrides_and_database_url_shorthand() {
        let s = Settings::load_from(
            None,
            env(&[
                ("DATAMARKET__SERVER__BIND", "0.0.0.0:9000"),
                ("DATABASE_URL", "postgres://localhost/x"),
                ("DATAMARKET__LIMITS__PAGE_SIZE_MAX", "500"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.bind, "0.0.0.0:9000");
        assert_eq!(s.database.url.expose(), "postgres://localhost/x");
        assert_eq!(s.limits.page_size_max, 500);
        // the explicit variable wins over the shorthand
        let s = Settings::load_from(
            None,
            env(&[
                ("DATABASE_URL", "postgres://localhost/x"),
                ("DATAMARKET__DATABASE__URL", "sqlite://other.db"),
            ]),
        )
        .unwrap();
        assert_eq!(s.database.url.expose(), "sqlite://other.db");
    }

    #[test]
    fn invalid_values_are_named() {
        let err = Settings::load_from(None, env(&[("DATAMARKET__SERVER__BIND", "nowhere")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.bind"), "{err}");
        let err = Settings::load_from(None, env(&[("DATAMARKET__DATABASE__POOL_SIZE", "0")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("database.pool_size"), "{err}");
        let err = Settings::load_from(None, env(&[("DATAMARKET__SERVER__NO_SUCH_KEY", "1")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no_such_key"), "{err}");
        let err = Settings::load_from(None, env(&[("DATABASE_URL", "mysql://x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("database.url"), "{err}");
        let err = Settings::load_from(
            None,
            env(&[(
                "DATAMARKET__GRANTS__CROSS_BORDER__EXEMPTION_SUBJECTS",
                "2000000",
            )]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("grants.cross_border.exemption_subjects"),
            "{err}"
        );
    }

    #[test]
    fn url_schemes() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/x.db").unwrap(),
            DatabaseUrl::Sqlite("data/x.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("/tmp/x.db").unwrap(),
            DatabaseUrl::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:rel.db").unwrap(),
            DatabaseUrl::Sqlite("rel.db".into())
        );
        assert!(matches!(
            DatabaseUrl::parse("postgresql://u@h/db").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "\"***\"");
    }
}
