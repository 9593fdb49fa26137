//! Witnessed checkpoints (<https://c2sp.org/tlog-witness>), both sides:
//!
//! - [`server`]: `datamarket witness`, a witness of its own: it keeps, per
//!   log it witnesses, the size and root of the newest checkpoint it
//!   cosigned ([`state`], a file replaced atomically), checks every new
//!   checkpoint's log signature and its consistency proof from that size,
//!   refuses a fork, and answers a `cosignature/v1` line;
//! - [`collector`]: the market's side, one task per instance, that sends
//!   the newest signed head to each configured witness with a consistency
//!   proof from the size the witness last cosigned, and keeps the
//!   cosignatures it gets back (`audit::record_cosignature`).
//!
//! Both speak HTTP, the witness as a server of its own (not the market's
//! gateway: it answers as the C2SP specification says, with plain text
//! bodies) and the collector as a client; neither touches SQL. The formats
//! are `audit::cosignature`.

pub mod collector;
pub mod server;
pub mod state;

use std::path::PathBuf;

pub use collector::spawn_collector;
pub use server::{Refusal, Witness, WitnessOptions};

/// Why a witness or the collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the witness key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("{0}")]
    Config(String),
}

fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> WitnessError + '_ {
    move |source| WitnessError::Io {
        path: path.to_owned(),
        source,
    }
}
