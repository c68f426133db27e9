//! Herald: a campaign server whose channel providers are sandboxed
//! WebAssembly components. See ARCHITECTURE.md for the module map; data flows
//! api -> domain/store -> engine -> plugins -> provider.

pub mod api;
pub mod clock;
pub mod console;
pub mod domain;
pub mod egress;
pub mod engine;
pub mod kit;
pub mod memory;
pub mod metrics;
pub mod plugins;
pub mod rfc3339;
pub mod sealing;
pub mod store;

pub mod cli;
pub mod demo;
pub mod http_server;
pub mod server;
pub mod telemetry;
