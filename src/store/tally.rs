//! Grouped counts over a time range, for reports that each service answers
//! over its own tables (see `supervision::statistics`): the row shapes and
//! the one way such a query binds its period.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

use super::{Backend, DbConnection, dialect};
use crate::error::Result;

/// A count under one key.
#[derive(QueryableByName, Debug)]
pub struct Count {
    #[diesel(sql_type = Text)]
    pub key: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// A count under two keys.
#[derive(QueryableByName, Debug)]
pub struct Count2 {
    #[diesel(sql_type = Text)]
    pub key: String,
    #[diesel(sql_type = Text)]
    pub key2: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// A half-open period, `from` inclusive, `to` exclusive.
#[derive(Clone, Copy, Debug)]
pub struct Period {
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
}

/// The rows of `sql`, whose `$1` and `$2` are the period's ends and whose
/// `{day}` is replaced by the UTC day of its `created_at` column.
pub fn rows<R: QueryableByName<Backend> + 'static>(
    conn: &mut DbConnection,
    sql: &str,
    period: Period,
) -> Result<Vec<R>> {
    let sql = sql.replace("{day}", &dialect::day_of(conn, "created_at"));
    Ok(diesel::sql_query(dialect::numbered(conn, &sql))
        .bind::<Timestamp, _>(period.from)
        .bind::<Timestamp, _>(period.to)
        .load(conn)?)
}
