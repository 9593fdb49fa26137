// embed_migrations! reads the migration directories at compile time but
// cannot tell cargo about them; without this a new migration is silently
// left out of an incremental build.
//
// The PostgreSQL half of every store test is compiled as `#[ignore]`d
// unless DATABASE_URL names a PostgreSQL database when the tests are built,
// so that a run without PostgreSQL shows those cases as ignored rather
// than as passed (see tests/api/support.rs).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-env-changed=DATABASE_URL");
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    let url = std::env::var("DATABASE_URL").unwrap_or_default();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        println!("cargo:rustc-cfg=postgres_tests");
    }
}
