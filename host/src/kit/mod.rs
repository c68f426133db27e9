//! The kit for plugin authors: `herald plugin new`, `check`, `keygen` and
//! `sign`, and the registry's admin commands.

pub mod admin;
pub mod check;
pub mod new;
pub mod sign;
mod webhook_samples;
