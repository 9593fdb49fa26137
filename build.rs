// embed_migrations! reads the migration directories at compile time but
// cannot tell cargo about them; without this a new migration is silently
// left out of an incremental build.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
