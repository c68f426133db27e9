//! `sqlx::migrate!` embeds `../migrations` at compile time, and on stable
//! Rust a new migration file alone does not tell cargo to rebuild: without
//! this, a build after adding one could ship without it.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
