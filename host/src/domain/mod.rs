//! Pure rules with no I/O: what a valid recipient is, how a body renders, which
//! campaign and member transitions are allowed.

pub mod campaign;
pub mod import;
pub mod member;
pub mod phone;
pub mod retry;
pub mod template;
