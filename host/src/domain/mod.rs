//! Pure rules with no I/O: what a valid recipient is, how a body renders, which
//! campaign and member transitions are allowed, what each campaign type
//! takes, what a call report means, which media an MMS may carry.

pub mod campaign;
pub mod campaign_content;
pub mod campaign_spec;
pub mod media;
pub mod member;
pub mod phone;
pub mod reply;
pub mod retry;
pub mod template;
pub mod voice;
