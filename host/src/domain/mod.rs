//! Pure rules with no I/O: what a valid recipient is, how a body renders, which
//! campaign and member transitions are allowed, when a message may go out and
//! what it costs.

pub mod campaign;
pub mod contact_tz;
pub mod credits;
pub mod import;
pub mod lifecycle;
pub mod member;
pub mod opt_out;
pub mod phone;
pub mod retry;
pub mod segments;
pub mod template;
pub mod window;
