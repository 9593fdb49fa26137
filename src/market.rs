//! The market's shared context: what every service needs to do its work.

use std::sync::Arc;

use crate::config::Settings;
use crate::keys::PlatformKeys;
use crate::objects::Objects;
use crate::store::Db;

#[derive(Clone)]
pub struct Market {
    pub db: Db,
    pub objects: Objects,
    pub keys: Arc<PlatformKeys>,
    pub settings: Arc<Settings>,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("database: {0}")]
    Database(crate::error::Error),
    #[error("object store: {0}")]
    Objects(#[from] object_store::Error),
    #[error("platform keys: {0}")]
    Keys(#[from] crate::keys::KeyError),
    #[error("audit log: {0}")]
    Audit(crate::error::Error),
}

impl Market {
    /// Connects to the database, applies pending migrations, opens the
    /// object store and loads (or on first start creates) the platform key.
    /// Every write transaction then signs the audit log's new tree head
    /// before it commits, and the log is brought up to date (tree nodes of
    /// older entries, a first head) before anything else writes.
    pub fn open(settings: Settings) -> Result<Market, OpenError> {
        crate::config::create_private_dir(&settings.storage.data_dir)
            .map_err(|e| OpenError::Database(e.into()))?;
        let mut db = crate::store::Db::connect(&settings.database).map_err(OpenError::Database)?;
        let applied = db.migrate().map_err(OpenError::Database)?;
        for migration in applied {
            tracing::info!(%migration, "applied migration");
        }
        let objects = Objects::open(&settings.storage)?;
        let keys = Arc::new(PlatformKeys::load_or_create(&settings.auth.keys_dir)?);
        let sealer = crate::audit::Sealer::new(keys.clone(), settings.audit.origin.clone());
        db.set_before_commit(Arc::new(move |conn| sealer.seal(conn)));
        db.set_around_change(Arc::new(crate::audit::around_change));
        let built = crate::audit::catch_up(&db).map_err(OpenError::Audit)?;
        if built > 0 {
            tracing::info!(entries = built, "built the audit tree of older entries");
        }
        Ok(Market {
            db,
            objects,
            keys,
            settings: Arc::new(settings),
        })
    }
}
