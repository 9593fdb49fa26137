//! Updates kept prepared. diesel keeps no `UPDATE` in its statement cache:
//! a changeset with optional fields writes different SQL from one run to
//! the next, so its update statement marks itself unsafe to cache while it
//! writes its text, and every update is prepared afresh — on SQLite parsed
//! and planned on every run, with the triggers of its table looked up. On
//! `PATCH` a tenth of the writer's time went to preparing the edit's update
//! of `datasets` (docs/performance.md, fifth and sixth rounds).
//!
//! [`update`] writes the same `UPDATE … SET … WHERE …` as diesel's, from
//! diesel's own changeset and expressions, without that mark: for an
//! update whose changeset has no optional fields (every `transition!`, the
//! log's head, a download's count) the text is the same on every run, and
//! the statement cache finds it by its text. Its `RETURNING` names the
//! columns with their table, as diesel does on PostgreSQL; diesel leaves
//! the table out on SQLite, which accepts both (the bundled SQLite; an old
//! system SQLite, 3.35, refused table names there). (Overriding
//! `is_safe_to_cache_prepared` on a wrapper does not do it: diesel asks a
//! reference to the statement, and a reference's answer comes from walking
//! the statement — the fifth round's wrapper kept nothing prepared.)

use std::marker::PhantomData;

use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression};
use diesel::query_builder::{AsChangeset, AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::Bool;
use diesel::{QueryResult, RunQueryDsl, Table};

/// `UPDATE table SET set WHERE filter`, kept prepared; see [`update`].
pub struct KeptUpdate<T: Table, S, W, R = NoReturning> {
    from: T::FromClause,
    set: S,
    filter: W,
    returning: R,
    table: PhantomData<T>,
}

/// No `RETURNING` clause.
pub struct NoReturning;

/// `RETURNING` these columns.
pub struct Returning<R>(R);

/// `UPDATE table SET set WHERE filter`, a statement the connection keeps
/// prepared. Only for a changeset that always writes every field (no
/// `Option` that skips a column when `None`) and a filter whose text does
/// not vary (no list whose length varies): each distinct text is its own
/// cached statement. (A list of values diesel marks unsafe to keep, so such
/// a statement is prepared afresh, as diesel's own would be.) The changeset
/// must not be empty: diesel refuses an empty one, this writes `SET WHERE`,
/// which the database refuses.
pub fn update<T, V, W>(table: T, filter: W, set: V) -> KeptUpdate<T, V::Changeset, W>
where
    T: Table,
    V: AsChangeset<Target = T>,
    W: Expression<SqlType = Bool> + AppearsOnTable<T>,
{
    KeptUpdate {
        from: table.from_clause(),
        set: set.as_changeset(),
        filter,
        returning: NoReturning,
        table: PhantomData,
    }
}

impl<T: Table, S, W> KeptUpdate<T, S, W> {
    /// Returns these columns of the updated row.
    pub fn returning<R>(self, columns: R) -> KeptUpdate<T, S, W, Returning<R>>
    where
        R: Expression + AppearsOnTable<T>,
    {
        KeptUpdate {
            from: self.from,
            set: self.set,
            filter: self.filter,
            returning: Returning(columns),
            table: PhantomData,
        }
    }
}

impl<DB: Backend> QueryFragment<DB> for NoReturning {
    fn walk_ast<'b>(&'b self, _: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        Ok(())
    }
}

impl<DB: Backend, R: QueryFragment<DB>> QueryFragment<DB> for Returning<R> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(" RETURNING ");
        self.0.walk_ast(out.reborrow())
    }
}

impl<T, S, W, R, DB> QueryFragment<DB> for KeptUpdate<T, S, W, R>
where
    DB: Backend,
    T: Table,
    T::FromClause: QueryFragment<DB>,
    S: QueryFragment<DB>,
    W: QueryFragment<DB>,
    R: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE ");
        self.from.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.set.walk_ast(out.reborrow())?;
        out.push_sql(" WHERE ");
        self.filter.walk_ast(out.reborrow())?;
        self.returning.walk_ast(out.reborrow())
    }
}

impl<T: Table, S, W, R> QueryId for KeptUpdate<T, S, W, R> {
    // Found in the cache by its text, as diesel finds any statement whose
    // type alone does not fix its text.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<T: Table, S, W, R: Expression> Query for KeptUpdate<T, S, W, Returning<R>> {
    type SqlType = R::SqlType;
}

impl<T: Table, S, W, R, Conn> RunQueryDsl<Conn> for KeptUpdate<T, S, W, R> {}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use diesel::pg::Pg;
    use diesel::prelude::*;
    use diesel::sqlite::Sqlite;

    use crate::store::schema::{audit_log_head, grants};

    /// The statement's text on backend `$db`, with its binds left out.
    macro_rules! text {
        ($db:ty, $query:expr) => {
            diesel::debug_query::<$db, _>($query)
                .to_string()
                .split(" -- binds")
                .next()
                .unwrap_or_default()
                .to_owned()
        };
    }

    #[test]
    fn a_kept_update_writes_diesels_text() {
        let ours = super::update(
            grants::table,
            grants::id
                .eq("g")
                .and(grants::downloads_used.lt(grants::max_downloads)),
            grants::downloads_used.eq(grants::downloads_used + 1),
        );
        let diesels = diesel::update(
            grants::table
                .filter(grants::id.eq("g"))
                .filter(grants::downloads_used.lt(grants::max_downloads)),
        )
        .set(grants::downloads_used.eq(grants::downloads_used + 1));
        assert_eq!(text!(Sqlite, &ours), text!(Sqlite, &diesels));
        assert_eq!(text!(Pg, &ours), text!(Pg, &diesels));
        assert_eq!(
            text!(
                Pg,
                &ours.returning((grants::downloads_used, grants::max_downloads))
            ),
            text!(
                Pg,
                &diesels.returning((grants::downloads_used, grants::max_downloads))
            ),
        );
    }

    /// How many statements `run` prepared for the cache.
    fn prepared_for_cache(run: impl Fn(&mut SqliteConnection)) -> usize {
        let mut conn = SqliteConnection::establish(":memory:").expect("in-memory SQLite");
        diesel::sql_query(
            "CREATE TABLE audit_log_head (id INTEGER PRIMARY KEY, size BIGINT NOT NULL)",
        )
        .execute(&mut conn)
        .expect("table");
        diesel::sql_query("INSERT INTO audit_log_head (id, size) VALUES (1, 5)")
            .execute(&mut conn)
            .expect("row");
        let prepared = Arc::new(AtomicUsize::new(0));
        let counter = prepared.clone();
        conn.set_instrumentation(move |event: diesel::connection::InstrumentationEvent<'_>| {
            if let diesel::connection::InstrumentationEvent::CacheQuery { .. } = event {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        for _ in 0..3 {
            run(&mut conn);
        }
        prepared.load(Ordering::SeqCst)
    }

    /// Kept: the second and third runs find the statement in the cache.
    /// diesel's own update, the control, is never put there.
    #[test]
    fn a_kept_update_is_prepared_once() {
        let kept = prepared_for_cache(|conn| {
            let size: i64 = super::update(
                audit_log_head::table,
                audit_log_head::id.eq(1),
                audit_log_head::size.eq(audit_log_head::size + 1),
            )
            .returning(audit_log_head::size)
            .get_result(conn)
            .expect("kept update");
            assert!(size > 5);
        });
        assert_eq!(kept, 1, "prepared for the cache once, then found there");
        let diesels = prepared_for_cache(|conn| {
            diesel::update(audit_log_head::table.filter(audit_log_head::id.eq(1)))
                .set(audit_log_head::size.eq(audit_log_head::size + 1))
                .execute(conn)
                .expect("diesel's update");
        });
        assert_eq!(diesels, 0, "diesel keeps no update of its own");
    }
}
