//! Every migration applies, reverts and applies again, on both backends:
//! a down.sql that forgets a table, an index or a trigger fails here, not
//! on an operator's rollback.

use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::support::*;

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Applies, reverts and applies again on one connection; `$list` selects
/// the name of every table, index and trigger in the test's schema.
macro_rules! round_trip {
    ($conn:expr, $migrations:expr, $list:expr) => {{
        let conn = $conn;
        let objects = |conn: &mut _| -> Vec<String> {
            let mut names: Vec<String> = diesel::sql_query($list)
                .load::<Name>(conn)
                .expect("list schema objects")
                .into_iter()
                .map(|n| n.name)
                .filter(|n| !n.starts_with("__diesel_schema_migrations"))
                .collect();
            names.sort();
            names
        };
        let applied: Vec<String> = conn
            .run_pending_migrations($migrations)
            .expect("apply")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(applied.len() >= 5, "every migration applied: {applied:?}");
        let schema = objects(&mut *conn);
        for table in [
            "accounts",
            "datasets",
            "rights",
            "grants",
            "licences",
            "audit_entries",
        ] {
            assert!(
                schema.contains(&table.to_owned()),
                "{table} exists: {schema:?}"
            );
        }
        let reverted = conn
            .revert_all_migrations($migrations)
            .expect("revert all")
            .len();
        assert_eq!(reverted, applied.len(), "every migration reverted");
        assert_eq!(
            objects(&mut *conn),
            Vec::<String>::new(),
            "nothing left behind"
        );
        let again = conn
            .run_pending_migrations($migrations)
            .expect("apply again")
            .len();
        assert_eq!(again, applied.len());
        assert_eq!(
            objects(&mut *conn),
            schema,
            "the same schema the second time"
        );
    }};
}

#[test]
fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn =
        diesel::SqliteConnection::establish(dir.path().join("m.db").to_str().unwrap()).unwrap();
    round_trip!(
        &mut conn,
        SQLITE,
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'index', 'trigger')
           AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'datasets_search_%'"
    );
}

#[test]
#[cfg_attr(not(postgres_tests), ignore = "DATABASE_URL does not name PostgreSQL")]
fn postgres() {
    let dir = tempfile::tempdir().unwrap();
    let (url, schema) = fresh_database(Backend::Postgres, dir.path()).expect(NO_POSTGRES);
    let _guard = SchemaGuard(schema);
    let mut conn = diesel::PgConnection::establish(&url).unwrap();
    round_trip!(
        &mut conn,
        POSTGRES,
        "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()
         UNION ALL SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()
         UNION ALL SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = current_schema() AND NOT t.tgisinternal"
    );
}
