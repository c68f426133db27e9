//! The only module that touches wasmtime: compiling provider components,
//! instantiating one per call under a deadline and a memory cap, and the host
//! functions (imports) a plugin may use.

mod bindings;
mod host_imports;
mod limits;
mod registry;
mod runtime;

pub use bindings::herald::provider::types as wit;
pub use host_imports::CallContext;
pub use registry::{LoadedPlugin, Registry};
pub use runtime::{PluginFailure, Runtime, RuntimeLimits};
