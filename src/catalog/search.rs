//! Search: the public catalog of listed datasets, newest first, by words
//! (substrings of title, description and tags, Chinese and English alike),
//! tag, classification and provider, in keyset pages.

use diesel::prelude::*;

use super::rows::DatasetRow;
use super::types::{DatasetPage, SearchQuery};
use crate::domain::DatasetStatus;
use crate::error::{Code, Error, Result};
use crate::market::Market;
use crate::page;
use crate::store::dialect::{self, TextIndex};
use crate::store::schema::{dataset_tags, datasets};

const MAX_QUERY_CHARS: usize = 200;
const MAX_QUERY_TERMS: usize = 8;

/// The catalog's search text and its index on each backend (see the
/// foundation migrations).
const SEARCH_INDEX: TextIndex = TextIndex {
    column: "datasets.search_text",
    rowid_column: "datasets.seq",
    fts_table: "datasets_search",
};

/// The public catalog: listed datasets, newest first, filtered and paged.
pub async fn search(market: &Market, query: SearchQuery) -> Result<DatasetPage> {
    let limits = &market.settings.limits;
    let limit = query.limit.unwrap_or(limits.page_size_default);
    if limit == 0 || limit > limits.page_size_max {
        return Err(Error::refused(
            Code::InvalidParameter,
            format!("limit must be between 1 and {}", limits.page_size_max),
        )
        .with("parameter", "limit"));
    }
    let cursor = page::parse_cursor(query.cursor.as_deref())?;
    // No stored text holds control characters (domain::text refuses them),
    // and neither index takes them in a query (SQLite's FTS5 chokes on NUL,
    // PostgreSQL refuses it in any text).
    for (name, value) in [("q", &query.q), ("tag", &query.tag)] {
        if value
            .as_deref()
            .is_some_and(|v| v.chars().any(char::is_control))
        {
            return Err(Error::refused(
                Code::InvalidParameter,
                format!("{name} must not contain control characters"),
            )
            .with("parameter", name));
        }
    }
    let terms = match query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        None => Vec::new(),
        Some(q) if q.chars().count() > MAX_QUERY_CHARS => {
            return Err(Error::refused(
                Code::InvalidParameter,
                format!("q must be at most {MAX_QUERY_CHARS} characters"),
            )
            .with("parameter", "q"));
        }
        Some(q) => q
            .split_whitespace()
            .take(MAX_QUERY_TERMS)
            .map(str::to_owned)
            .collect(),
    };
    market
        .db
        .read(move |conn| {
            let mut sql_query = datasets::table
                .filter(datasets::status.eq(DatasetStatus::Listed))
                .select(DatasetRow::as_select())
                .order(datasets::id.desc())
                .limit(i64::from(limit) + 1)
                .into_boxed();
            for term in &terms {
                sql_query = sql_query.filter(dialect::contains(conn, SEARCH_INDEX, term)?);
            }
            if let Some(tag) = query.tag {
                sql_query = sql_query.filter(
                    datasets::id.eq_any(
                        dataset_tags::table
                            .filter(dataset_tags::tag.eq(tag))
                            .select(dataset_tags::dataset_id),
                    ),
                );
            }
            if let Some(classification) = query.classification {
                sql_query = sql_query.filter(datasets::classification.eq(classification));
            }
            if let Some(provider) = query.provider {
                sql_query = sql_query.filter(datasets::provider_id.eq(provider.to_string()));
            }
            if let Some(cursor) = cursor {
                sql_query = sql_query.filter(datasets::id.lt(cursor.to_string()));
            }
            let rows: Vec<DatasetRow> = sql_query.load(conn)?;
            let (rows, next_cursor) = page::split(rows, limit, |r| &r.id);
            let items = rows
                .into_iter()
                .map(DatasetRow::into_dataset)
                .collect::<Result<_>>()?;
            Ok(DatasetPage { items, next_cursor })
        })
        .await
}
