//! Every migration applies, reverts and applies again, on both backends:
//! a down.sql that forgets a table, an index or a trigger fails here, not
//! on an operator's rollback.

use diesel::connection::SimpleConnection;
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

/// The version of `2026-12-04-000200_listing_checks`, as diesel writes it.
const LISTING_CHECKS: &str = "20261204000200";

/// One text column out of a query, for comparing rows before and after.
fn text(conn: &mut diesel::SqliteConnection, query: &str) -> Vec<String> {
    diesel::sql_query(query)
        .load::<Name>(conn)
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .into_iter()
        .map(|n| n.name)
        .collect()
}

/// The migration that rebuilds `datasets` with its CHECKs as ORs, on a
/// database that holds listings: rows, full-text search, tags and the
/// constraints come through it, and an edit of a listing no longer builds
/// temporary tables for the constraints.
#[test]
fn sqlite_listings_rebuilt_keep_rows_search_references_and_constraints() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn =
        diesel::SqliteConnection::establish(dir.path().join("m.db").to_str().unwrap()).unwrap();
    conn.batch_execute("PRAGMA foreign_keys = ON").unwrap();
    let before: Vec<_> = conn
        .pending_migrations(SQLITE)
        .unwrap()
        .into_iter()
        .filter(|m| m.name().version().to_string().as_str() < LISTING_CHECKS)
        .collect();
    assert!(before.len() >= 5);
    for migration in &before {
        conn.run_migration(migration.as_ref()).unwrap();
    }
    conn.batch_execute(
        "INSERT INTO accounts (id, name, password_hash, roles, created_at)
             VALUES ('p1', 'provider', 'x', 'provider', '2026-12-01 00:00:00');
         INSERT INTO datasets (id, provider_id, title, description, tags, classification,
             personal_data, license, price_amount, price_currency, status, search_text,
             created_at, updated_at, reviewed_classification, sector)
         VALUES ('d1', 'p1', '城市交通站点', 'stations', '[\"交通\"]', 'important', 1, 'CC-BY-4.0',
                 100, 'CNY', 'listed', '城市交通站点 stations 交通',
                 '2026-12-01 00:00:00', '2026-12-01 00:00:00', 'important', 'transport'),
                ('d2', 'p1', 'Draft', 'weather', '[\"w\"]', 'general', 0, 'CC0-1.0',
                 0, 'CNY', 'draft', 'draft weather w',
                 '2026-12-01 00:00:00', '2026-12-01 00:00:00', NULL, NULL);
         INSERT INTO dataset_tags (dataset_id, tag) VALUES ('d1', '交通'), ('d2', 'w');",
    )
    .unwrap();
    let rows = "SELECT json_group_array(json_array(seq, id, provider_id, title, description, tags,
        classification, personal_data, license, price_amount, price_currency, status,
        review_reason, reviewed_by, reviewed_at, latest_version, search_text, created_at,
        updated_at, listed_at, reviewed_classification, inherited_classification,
        inherited_personal_data, sector)) AS name FROM (SELECT * FROM datasets ORDER BY seq)";
    let found = |conn: &mut diesel::SqliteConnection, term: &str| {
        text(
            conn,
            &format!(
                "SELECT d.id AS name FROM datasets_search s JOIN datasets d ON d.seq = s.rowid
                 WHERE datasets_search MATCH '\"{term}\"' ORDER BY d.id"
            ),
        )
    };
    let rows_before = text(&mut conn, rows);
    assert_eq!(found(&mut conn, "交通站"), ["d1"]);
    // The table's shape: columns (type, NOT NULL, default, key), references,
    // indexes (the UNIQUE one included) and the search triggers, as text.
    let shape = |conn: &mut diesel::SqliteConnection| {
        [
            "SELECT json_group_array(json_array(cid, name, type, \"notnull\", dflt_value, pk, hidden))
                 AS name FROM pragma_table_xinfo('datasets')",
            "SELECT json_group_array(json_array(\"table\", \"from\", \"to\", on_update, on_delete))
                 AS name FROM (SELECT * FROM pragma_foreign_key_list('datasets') ORDER BY \"from\")",
            "SELECT json_group_array(json_array(name, \"unique\", origin, partial))
                 AS name FROM (SELECT * FROM pragma_index_list('datasets') ORDER BY name)",
            "SELECT json_group_array(json_array(type, name, sql)) AS name FROM (SELECT * FROM
                 sqlite_master WHERE tbl_name = 'datasets' AND type IN ('index', 'trigger')
                 ORDER BY name)",
        ]
        .map(|query| text(conn, query).join(""))
    };
    let shape_before = shape(&mut conn);
    assert!(
        shape_before[3].contains("datasets_search_update"),
        "{shape_before:?}"
    );
    let update_plan = |conn: &mut diesel::SqliteConnection| -> Vec<String> {
        #[derive(QueryableByName)]
        struct Step {
            #[diesel(sql_type = Text)]
            opcode: String,
        }
        diesel::sql_query(
            "EXPLAIN UPDATE datasets SET status = 'draft', classification = 'general',
                 sector = 'other', title = 't' WHERE id = 'd1'",
        )
        .load::<Step>(conn)
        .unwrap()
        .into_iter()
        .map(|s| s.opcode)
        .collect()
    };
    // What the rebuild is for: each `IN (…)` list is a temporary table that
    // an edit of a listing fills as it runs.
    assert!(
        update_plan(&mut conn)
            .iter()
            .any(|op| op == "OpenEphemeral"),
        "the lists' temporary tables before the rebuild"
    );

    let applied = conn.run_pending_migrations(SQLITE).unwrap();
    assert!(
        applied.iter().any(|v| v.to_string() == LISTING_CHECKS),
        "the rebuild ran: {applied:?}"
    );

    assert_eq!(
        text(&mut conn, rows),
        rows_before,
        "every row and column kept"
    );
    assert_eq!(
        shape(&mut conn),
        shape_before,
        "the same columns, references, indexes, triggers"
    );
    assert_eq!(found(&mut conn, "交通站"), ["d1"], "the search index kept");
    assert_eq!(
        text(
            &mut conn,
            "SELECT \"table\" AS name FROM pragma_foreign_key_check"
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        text(
            &mut conn,
            "SELECT CAST(foreign_keys AS TEXT) AS name FROM pragma_foreign_keys"
        ),
        ["1"],
        "foreign keys are back on"
    );
    // The search triggers were made again.
    conn.batch_execute(
        "INSERT INTO datasets (id, provider_id, title, description, tags, classification,
             personal_data, license, price_amount, price_currency, status, search_text,
             created_at, updated_at)
         VALUES ('d3', 'p1', 'Harbour', 'ships', '[]', 'core', 0, 'CC0-1.0', 0, 'CNY', 'draft',
                 'harbour ships', '2026-12-01 00:00:00', '2026-12-01 00:00:00');
         UPDATE datasets SET search_text = 'rain gauges' WHERE id = 'd2';",
    )
    .unwrap();
    assert_eq!(found(&mut conn, "harbour"), ["d3"]);
    assert_eq!(found(&mut conn, "gauges"), ["d2"]);
    assert_eq!(found(&mut conn, "weather"), Vec::<String>::new());
    // The constraints accept every value of the market's words and refuse
    // anything else, as the lists did; NULL where the column may be empty.
    use datamarket::domain::jurisdiction::Sector;
    use datamarket::domain::{Classification, DatasetStatus};
    let classifications: Vec<&str> = Classification::ALL.iter().map(|c| c.as_str()).collect();
    let columns: [(&str, Vec<&str>); 5] = [
        ("classification", classifications.clone()),
        (
            "status",
            DatasetStatus::ALL.iter().map(|s| s.as_str()).collect(),
        ),
        ("sector", Sector::ALL.iter().map(|s| s.as_str()).collect()),
        ("reviewed_classification", classifications.clone()),
        ("inherited_classification", classifications),
    ];
    for (column, values) in &columns {
        assert!(values.len() >= 3, "{column}: {values:?}");
        for value in values {
            conn.batch_execute(&format!(
                "UPDATE datasets SET {column} = '{value}' WHERE id = 'd1'"
            ))
            .unwrap_or_else(|e| panic!("{column} = {value}: {e}"));
        }
        for bad in ["secret", "", "General"] {
            let refused = conn
                .batch_execute(&format!(
                    "UPDATE datasets SET {column} = '{bad}' WHERE id = 'd1'"
                ))
                .unwrap_err()
                .to_string();
            assert!(
                refused.contains("CHECK constraint failed"),
                "{column} = {bad:?}: {refused}"
            );
        }
    }
    for nullable in [
        "sector",
        "reviewed_classification",
        "inherited_classification",
    ] {
        conn.batch_execute(&format!(
            "UPDATE datasets SET {nullable} = NULL WHERE id = 'd1'"
        ))
        .unwrap();
    }
    for not_null in ["classification", "status"] {
        let refused = conn
            .batch_execute(&format!(
                "UPDATE datasets SET {not_null} = NULL WHERE id = 'd1'"
            ))
            .unwrap_err()
            .to_string();
        assert!(refused.contains("NOT NULL"), "{not_null}: {refused}");
    }
    let refused = conn
        .batch_execute("UPDATE datasets SET price_amount = -1 WHERE id = 'd1'")
        .unwrap_err()
        .to_string();
    assert!(refused.contains("CHECK constraint failed"), "{refused}");
    // Tags still belong to their listing, and go with it.
    conn.batch_execute("DELETE FROM datasets WHERE id = 'd2'")
        .unwrap();
    // The search index matches its table row for row (the delete trigger
    // included): FTS5 checks it against the content table.
    conn.batch_execute(
        "INSERT INTO datasets_search (datasets_search, rank) VALUES ('integrity-check', 1)",
    )
    .unwrap();
    assert_eq!(found(&mut conn, "gauges"), Vec::<String>::new());
    assert_eq!(
        text(
            &mut conn,
            "SELECT dataset_id AS name FROM dataset_tags ORDER BY dataset_id"
        ),
        ["d1"]
    );
    let refused = conn
        .batch_execute("INSERT INTO dataset_tags (dataset_id, tag) VALUES ('nope', 't')")
        .unwrap_err()
        .to_string();
    assert!(refused.contains("FOREIGN KEY"), "{refused}");
    // And an edit of a listing no longer fills a temporary table per list.
    let plan = update_plan(&mut conn);
    assert!(plan.iter().any(|op| op == "Halt"), "a plan: {plan:?}");
    assert!(
        !plan.iter().any(|op| op == "OpenEphemeral"),
        "no temporary table in {plan:?}"
    );
}
