//! Serving registration certificates: the latest one of a registration,
//! and where a certificate stands. Signing and verifying them is the
//! register's ([`crate::access::certificate`]).

use uuid::Uuid;

pub use crate::access::certificate::verify;

use super::load_right;
use crate::access::certificate::{self, Certificate, CertificateStatus};
use crate::domain::{self, Actor};
use crate::error::{Error, Result};
use crate::market::Market;

/// The latest certificate of a right registration.
pub async fn for_right(
    market: &Market,
    actor: Option<&Actor>,
    right_id: Uuid,
) -> Result<Certificate> {
    let actor = actor.cloned();
    market
        .db
        .read(move |conn| {
            let (right, _) = load_right(conn, actor.as_ref(), right_id)?;
            let row = certificate::latest_of(conn, &right)?
                .ok_or_else(|| Error::not_found("certificate"))?;
            let claims = certificate::decode_unverified(&row.jws)?;
            Ok(Certificate {
                id: domain::id_from_db(&row.id)?,
                registration: right_id,
                status: certificate::state(&row, &right),
                jws: row.jws,
                claims,
            })
        })
        .await
}

/// Where a certificate stands now.
pub async fn status(market: &Market, actor: Option<&Actor>, id: Uuid) -> Result<CertificateStatus> {
    let actor = actor.cloned();
    market
        .db
        .read(move |conn| {
            let row =
                certificate::find(conn, id)?.ok_or_else(|| Error::not_found("certificate"))?;
            let (right, _) = load_right(conn, actor.as_ref(), domain::id_from_db(&row.right_id)?)
                .map_err(|_| Error::not_found("certificate"))?;
            Ok(CertificateStatus {
                certificate: id,
                registration: right.uuid()?,
                status: certificate::state(&row, &right),
                issued_at: domain::from_db_time(row.issued_at),
                valid_until: right.until.map(domain::from_db_time),
                superseded_at: row.superseded_at.map(domain::from_db_time),
                superseded_by: row
                    .superseded_by
                    .as_deref()
                    .map(domain::id_from_db)
                    .transpose()?,
            })
        })
        .await
}
