//! Pure rules with no I/O: what a valid recipient is, how a body renders, which
//! campaign and member transitions are allowed, what each campaign type
//! takes, what a call report means, which media an MMS may carry, when a
//! message may go out and what it costs.

pub mod campaign_content;
pub mod campaign_spec;
pub mod contact_tz;
pub mod content_needs;
pub mod credits;
pub mod fair_share;
pub mod import;
pub mod import_cells;
pub mod journey;
pub mod journey_timing;
pub mod lifecycle;
pub mod media;
pub mod member;
pub mod message_template;
pub mod opt_out;
pub mod phone;
pub mod reply;
pub mod retry;
pub mod schedule;
pub mod segments;
pub mod send_window;
pub mod tags;
pub mod template;
mod template_cache;
pub mod voice;
pub mod window;
