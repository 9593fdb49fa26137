//! Updates kept prepared. diesel keeps no `UPDATE` in its statement cache:
//! a changeset with optional fields writes different SQL from one run to
//! the next, and a cache keyed by that text could grow without bound. So
//! every update was prepared afresh — on SQLite parsed and planned on every
//! run, with the triggers of its table looked up. On `PATCH` a tenth of the
//! writer's time went to preparing, two thirds of it the edit's update of
//! `datasets` (docs/performance.md, fifth round). An update whose changeset
//! has no optional fields (every `transition!`, the log's head) writes the
//! same text every run; [`kept`] marks it safe to keep, and the cache finds
//! it by its text.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl};

/// A statement whose SQL text is the same on every run; see [`kept`].
pub struct Kept<S>(S);

/// Keeps `statement` in the connection's statement cache. Only for a
/// statement whose text varies little with its values: no changeset field
/// that is skipped when `None`, no list whose length has no small bound
/// (each length is its own text, and its own cached statement).
pub fn kept<S>(statement: S) -> Kept<S> {
    Kept(statement)
}

impl<S> QueryId for Kept<S> {
    // Found in the cache by its SQL text, as diesel finds any statement
    // whose type alone does not fix its text.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<S, DB> QueryFragment<DB> for Kept<S>
where
    DB: Backend,
    S: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<S: Query> Query for Kept<S> {
    type SqlType = S::SqlType;
}

impl<S, Conn> RunQueryDsl<Conn> for Kept<S> {}
