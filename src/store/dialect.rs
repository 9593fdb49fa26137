//! Where SQLite and PostgreSQL differ in SQL the services need, so that no
//! service spells a dialect of its own: placeholders in hand-written
//! queries, and substring search over an indexed text column.

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

/// A text column with a substring index: on PostgreSQL a trigram (GIN)
/// index on `column`; on SQLite an FTS5 table with the trigram tokenizer
/// whose rowid is the table's `rowid_column`.
#[derive(Clone, Copy, Debug)]
pub struct TextIndex {
    /// `table.column` of the searched text.
    pub column: &'static str,
    /// `table.column` the FTS5 table's rowid mirrors (SQLite).
    pub rowid_column: &'static str,
    /// The FTS5 table (SQLite).
    pub fts_table: &'static str,
}

/// A case-insensitive substring match of `term` in the indexed column,
/// served by each backend's index where it can be.
pub fn contains<QS: 'static>(
    postgres: bool,
    index: TextIndex,
    term: &str,
) -> Box<dyn BoxableExpression<QS, Backend, SqlType = Bool>> {
    if postgres {
        let pattern = format!("%{}%", escape_like(term));
        Box::new(
            sql::<Bool>(&format!("{} ILIKE ", index.column))
                .bind::<Text, _>(pattern)
                .sql(" ESCAPE '\\'"),
        )
    } else if term.chars().count() >= 3 {
        // FTS5's trigram tokenizer matches a quoted phrase as a substring.
        let phrase = format!("\"{}\"", term.replace('"', "\"\""));
        Box::new(
            sql::<Bool>(&format!(
                "{} IN (SELECT rowid FROM {fts} WHERE {fts} MATCH ",
                index.rowid_column,
                fts = index.fts_table
            ))
            .bind::<Text, _>(phrase)
            .sql(")"),
        )
    } else {
        // Shorter than a trigram: the index cannot help, scan instead.
        Box::new(
            sql::<Bool>(&format!("instr(lower({}), lower(", index.column))
                .bind::<Text, _>(term.to_owned())
                .sql(")) > 0"),
        )
    }
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
