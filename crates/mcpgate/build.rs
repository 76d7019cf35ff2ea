//! `sqlx::migrate!` embeds the migration folders when the crate compiles; without this, a new
//! migration file alone would not make cargo compile the crate again.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
