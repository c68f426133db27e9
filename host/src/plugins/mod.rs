//! The only module that touches wasmtime: compiling provider components,
//! the registry of installed versions, instantiating one instance per call
//! under a deadline and a memory cap, and the host functions (imports) a
//! plugin may use.

mod batch_http;
mod bindings;
mod cache;
mod call;
mod canary;
mod canary_judge;
mod channel_faults;
mod compile_child;
mod cpu_gate;
mod cpu_meter;
mod exports;
mod heavy_lane;
mod host_imports;
mod http_exchange;
mod inspect;
mod limits;
mod loaded;
mod native;
mod quarantine;
mod registry;
mod runtime;
mod send_batch;
mod send_counters;
pub mod signing;
mod stats;
pub mod trust;
mod usual_cpu;
mod watch;
mod webhook_batch;
mod wire;

pub use bindings::herald::provider::types as wit;
pub use bindings::reconciling::exports::herald::provider::lookup::SentQuery;
pub use cache::CompileCache;
pub use canary::{CanaryRun, Route as CanaryRoute, Routed, judge_canaries};
pub use canary_judge::{
    CanaryPolicy, Figures as CanaryFigures, Judgement as CanaryJudgement, Observation,
};
pub use compile_child::{CompileChild, run as precompile_in_this_process};
pub use host_imports::CallContext;
pub use inspect::InstallError;
pub use loaded::LoadedPlugin;
pub use registry::{Registry, RegistryError, load_component};
pub use runtime::{PluginFailure, Runtime, RuntimeLimits, instances_for};
pub use stats::{CallStats, StatsSnapshot};
pub use watch::watch_dir;
pub use wire::WireSeen;

/// A channel kind as the WIT contract (and the API) names it: "sms", not
/// the generated type's `Debug` ("ChannelKind::Sms").
pub fn channel_name(kind: &wit::ChannelKind) -> &'static str {
    match kind {
        wit::ChannelKind::Sms => "sms",
        wit::ChannelKind::Mms => "mms",
        wit::ChannelKind::Whatsapp => "whatsapp",
        wit::ChannelKind::Voice => "voice",
        wit::ChannelKind::Email => "email",
    }
}
