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

/// Which datasets a report counts: those whose provider is registered in
/// one of `regions` and whose sector is one of `sectors`; an empty list
/// does not limit (a regulator's jurisdiction, or the part of it asked for).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    pub regions: Vec<String>,
    pub sectors: Vec<String>,
}

impl Scope {
    /// `AND <column> IN (the scope's datasets)`, or nothing for the whole
    /// market. Regions are ISO 3166-2 codes and sectors market words, both
    /// checked before they get here; a value with any other character
    /// matches nothing rather than reaching the statement.
    pub fn condition(&self, column: &str) -> String {
        let literals = |values: &[String]| {
            values
                .iter()
                .map(|v| {
                    if v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    {
                        format!("'{v}'")
                    } else {
                        "NULL".to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut limits = Vec::new();
        if !self.sectors.is_empty() {
            limits.push(format!("d.sector IN ({})", literals(&self.sectors)));
        }
        if !self.regions.is_empty() {
            limits.push(format!(
                "d.provider_id IN (SELECT a.id FROM accounts a WHERE a.region IN ({}))",
                literals(&self.regions)
            ));
        }
        if limits.is_empty() {
            return String::new();
        }
        format!(
            " AND {column} IN (SELECT d.id FROM datasets d WHERE {})",
            limits.join(" AND ")
        )
    }
}

/// The rows of `sql`, whose `$1` and `$2` are the period's ends, whose
/// `{day}` is replaced by the UTC day of its `created_at` column, and whose
/// `{scope}` by the condition that keeps to the scope's datasets (on a
/// `dataset_id` column; `{scope:id}` on the datasets table itself).
pub fn rows<R: QueryableByName<Backend> + 'static>(
    conn: &mut DbConnection,
    sql: &str,
    period: Period,
    scope: &Scope,
) -> Result<Vec<R>> {
    let sql = sql
        .replace("{day}", &dialect::day_of(conn, "created_at"))
        .replace("{scope:id}", &scope.condition("id"))
        .replace("{scope}", &scope.condition("dataset_id"));
    Ok(diesel::sql_query(dialect::numbered(conn, &sql))
        .bind::<Timestamp, _>(period.from)
        .bind::<Timestamp, _>(period.to)
        .load(conn)?)
}
