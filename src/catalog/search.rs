//! Search: the public catalog of listed datasets, newest first, by words
//! (substrings of title, description and tags, Chinese and English alike),
//! tag, classification and provider, in keyset pages.

use diesel::prelude::*;

use super::rows::DatasetRow;
use super::types::{DatasetPage, SearchOrder, SearchQuery};
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
    let sort = query.sort.unwrap_or(SearchOrder::Newest);
    let refuse = |name: &str, why: &str| {
        Err(Error::refused(Code::InvalidParameter, format!("{name} {why}")).with("parameter", name))
    };
    if query
        .currency
        .as_deref()
        .is_some_and(|c| c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()))
    {
        return refuse("currency", "must be an ISO 4217 code such as CNY");
    }
    if query.min_price.is_some_and(|p| p < 0) {
        return refuse("min_price", "must not be negative");
    }
    if query.max_price.is_some_and(|p| p < 0) {
        return refuse("max_price", "must not be negative");
    }
    if let (Some(min), Some(max)) = (query.min_price, query.max_price)
        && min > max
    {
        return refuse("max_price", "must not be below min_price");
    }
    // Sorted by price, a page ends at a (price, id) pair; newest first, at
    // an id.
    let (cursor, price_cursor) = match sort {
        SearchOrder::Newest => (page::parse_cursor(query.cursor.as_deref())?, None),
        _ => (None, parse_price_cursor(query.cursor.as_deref())?),
    };
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
                .limit(i64::from(limit) + 1)
                .into_boxed();
            sql_query = match sort {
                SearchOrder::Newest => sql_query.order(datasets::id.desc()),
                SearchOrder::PriceAsc => {
                    sql_query.order((datasets::price_amount.asc(), datasets::id.asc()))
                }
                SearchOrder::PriceDesc => {
                    sql_query.order((datasets::price_amount.desc(), datasets::id.desc()))
                }
            };
            if let Some(currency) = &query.currency {
                sql_query = sql_query.filter(datasets::price_currency.eq(currency.clone()));
            }
            if let Some(min) = query.min_price {
                sql_query = sql_query.filter(datasets::price_amount.ge(min));
            }
            if let Some(max) = query.max_price {
                sql_query = sql_query.filter(datasets::price_amount.le(max));
            }
            if let Some((price, id)) = price_cursor {
                let id = id.to_string();
                sql_query = match sort {
                    SearchOrder::PriceDesc => sql_query.filter(
                        datasets::price_amount
                            .lt(price)
                            .or(datasets::price_amount.eq(price).and(datasets::id.lt(id))),
                    ),
                    _ => sql_query.filter(
                        datasets::price_amount
                            .gt(price)
                            .or(datasets::price_amount.eq(price).and(datasets::id.gt(id))),
                    ),
                };
            }
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
            let (rows, mut next_cursor) = page::split(rows, limit, |r| &r.id);
            if sort != SearchOrder::Newest
                && let (Some(_), Some(last)) = (&next_cursor, rows.last())
            {
                next_cursor = Some(format!("{}~{}", last.price_amount, last.id));
            }
            let items = rows
                .into_iter()
                .map(DatasetRow::into_dataset)
                .collect::<Result<_>>()?;
            Ok(DatasetPage { items, next_cursor })
        })
        .await
}

/// A price-ordered page's cursor: `<price>~<id>`.
fn parse_price_cursor(cursor: Option<&str>) -> Result<Option<(i64, uuid::Uuid)>> {
    let Some(cursor) = cursor.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    cursor
        .split_once('~')
        .and_then(|(price, id)| Some((price.parse().ok()?, uuid::Uuid::parse_str(id).ok()?)))
        .map(Some)
        .ok_or_else(|| Error::refused(Code::InvalidCursor, "the cursor is not one this API gave"))
}
