//! The kit for plugin authors: `herald plugin new` and `herald plugin check`.

pub mod admin;
pub mod check;
pub mod new;
