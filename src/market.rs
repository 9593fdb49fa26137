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
}

impl Market {
    /// Connects to the database, applies pending migrations, opens the
    /// object store and loads (or on first start creates) the platform key.
    pub fn open(settings: Settings) -> Result<Market, OpenError> {
        let db = crate::store::Db::connect(&settings.database).map_err(OpenError::Database)?;
        let applied = db.migrate().map_err(OpenError::Database)?;
        for migration in applied {
            tracing::info!(%migration, "applied migration");
        }
        let objects = Objects::open(&settings.storage)?;
        let keys = PlatformKeys::load_or_create(&settings.auth.keys_dir)?;
        Ok(Market {
            db,
            objects,
            keys: Arc::new(keys),
            settings: Arc::new(settings),
        })
    }
}
