//! Where SQLite and PostgreSQL differ in SQL the services need, so that no
//! service spells a dialect of its own: placeholders in hand-written
//! queries, the calendar day of a timestamp, and substring search over an
//! indexed text column.

use diesel::BoxableExpression;
use diesel::dsl::sql;
use diesel::sql_types::{Bool, Text};

use super::{Backend, DbConnection};

/// A hand-written query with numbered placeholders (`$1`, `$2`, …, as
/// PostgreSQL spells them) in the connected backend's spelling (`?1`, … on
/// SQLite).
pub fn numbered(conn: &DbConnection, sql: &str) -> String {
    if conn.is_postgres() {
        sql.to_owned()
    } else {
        sql.replace('$', "?")
    }
}

/// The calendar day (UTC, `YYYY-MM-DD`) of a timestamp column, as SQL text
/// for grouping by day in a hand-written query.
pub fn day_of(conn: &DbConnection, column: &str) -> String {
    if conn.is_postgres() {
        format!("to_char({column}, 'YYYY-MM-DD')")
    } else {
        // Diesel stores SQLite timestamps as `YYYY-MM-DD HH:MM:SS[.f]`.
        format!("substr({column}, 1, 10)")
    }
}

/// A text column with a substring index: on PostgreSQL a trigram (GIN)
/// index on `column`; on SQLite an FTS5 table with the trigram tokenizer
/// whose rowid is the table's `rowid_column`. The column holds lower-cased
/// text.
#[derive(Clone, Copy, Debug)]
pub struct TextIndex {
    /// `table.column` of the searched text.
    pub column: &'static str,
    /// `table.column` the FTS5 table's rowid mirrors (SQLite).
    pub rowid_column: &'static str,
    /// The FTS5 table (SQLite).
    pub fts_table: &'static str,
}

/// How many index hits a term may have before a search stops listing them
/// and checks rows in the list's order instead.
const FEW_HITS: usize = 2_000;

/// A case-insensitive substring match of `term` in the indexed
/// (lower-cased) column, served by each backend's index.
///
/// PostgreSQL's planner weighs the trigram index against walking the list
/// in order by itself. SQLite's does not see inside the FTS5 table, so the
/// choice is made here from the index: a term with few hits becomes the list
/// of its rows; a common one is checked row by row as the list is walked in
/// order, and the walk stops when the page is full — either way a search
/// costs about a page's worth of work, not the size of the catalog.
pub fn contains<QS: 'static>(
    conn: &mut DbConnection,
    index: TextIndex,
    term: &str,
) -> crate::error::Result<Box<dyn BoxableExpression<QS, Backend, SqlType = Bool>>> {
    let term = term.to_lowercase();
    if conn.is_postgres() {
        let pattern = format!("%{}%", escape_like(&term));
        return Ok(Box::new(
            sql::<Bool>(&format!("{} LIKE ", index.column))
                .bind::<Text, _>(pattern)
                .sql(" ESCAPE '\\'"),
        ));
    }
    if term.chars().count() < 3 {
        // Shorter than a trigram: the index cannot help. Rows are read in
        // the list's order and the scan stops once a page is full.
        return Ok(Box::new(
            sql::<Bool>(&format!("instr({}, ", index.column))
                .bind::<Text, _>(term)
                .sql(") > 0"),
        ));
    }
    // FTS5's trigram tokenizer matches a quoted phrase as a substring.
    let phrase = format!("\"{}\"", term.replace('"', "\"\""));
    #[derive(diesel::QueryableByName)]
    struct Hit {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        rowid: i64,
    }
    use diesel::RunQueryDsl;
    let hits: Vec<Hit> = diesel::sql_query(format!(
        "SELECT rowid FROM {fts} WHERE {fts} MATCH ? LIMIT {}",
        FEW_HITS + 1,
        fts = index.fts_table
    ))
    .bind::<Text, _>(&phrase)
    .load(conn)?;
    if hits.len() <= FEW_HITS {
        let list = hits
            .iter()
            .map(|h| h.rowid.to_string())
            .collect::<Vec<_>>()
            .join(",");
        // Integers the index returned, not anything a client sent.
        return Ok(Box::new(sql::<Bool>(&format!(
            "{} IN ({list})",
            index.rowid_column
        ))));
    }
    Ok(Box::new(
        sql::<Bool>(&format!(
            "EXISTS (SELECT 1 FROM {fts} WHERE {fts} MATCH ",
            fts = index.fts_table
        ))
        .bind::<Text, _>(phrase)
        .sql(&format!(" AND rowid = {})", index.rowid_column)),
    ))
}

fn escape_like(term: &str) -> String {
    let mut out = String::with_capacity(term.len());
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
    }
}
