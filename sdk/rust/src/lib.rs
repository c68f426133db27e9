//! The guest SDK for Herald provider plugins.
//!
//! It owns the generated bindings of the contract's types and imports
//! (`herald:provider@1.5.0`), so every plugin shares one set of Rust types
//! and the helpers below can take and return them. A plugin generates only
//! its export world, mapped onto these types with [`bindings!`]:
//!
//! ```ignore
//! herald_plugin::bindings!("../../wit", "reconciling-provider-plugin");
//! ```
//!
//! What every provider otherwise rewrites: config lookups ([`config`]),
//! requests with secret placeholders and auth ([`request`]), mapping HTTP
//! answers to `send-error` ([`answer`]), webhook signatures and bodies
//! ([`webhook`]). Host calls go through [`host`], which natively (outside
//! wasm) answers from the [`testkit`], so a plugin's functions run in plain
//! `cargo test` against recorded fixtures.

wit_bindgen::generate!({
    path: "../../wit",
    inline: "package herald:sdk;
             world imports {
                 import herald:provider/host@1.5.0;
                 import herald:provider/uncertainty@1.5.0;
                 import herald:provider/signatures@1.5.0;
                 import herald:provider/batch-http@1.5.0;
             }",
    world: "herald:sdk/imports",
    generate_all,
});

pub use herald::provider::types;
/// The raw imports; prefer [`host`], which also runs natively under the test kit.
pub use herald::provider::{batch_http, host as imports, signatures, uncertainty};
#[doc(hidden)]
pub use wit_bindgen;

pub mod answer;
pub mod batch;
pub mod config;
pub mod host;
pub mod request;
pub mod testkit;
pub mod webhook;

/// Everything a plugin's `lib.rs` usually needs.
pub mod prelude {
    pub use crate::answer::{self, Class};
    pub use crate::config::{self, field};
    pub use crate::request::{self, secret};
    pub use crate::types::*;
    pub use crate::webhook;
}

/// Generates a plugin's export world (`provider-plugin`,
/// `reconciling-provider-plugin`, either with `batching-` in front: 1.4,
/// which also exports `webhooks.handle-webhooks`, or with `sending-` in
/// front: 1.5, which exports `sends.send-all` as well) from the contract in
/// `$path`, with its types and imports taken from this crate.
#[macro_export]
macro_rules! bindings {
    ($path:literal, $world:literal) => {
        $crate::wit_bindgen::generate!({
            path: $path,
            world: $world,
            runtime_path: "::herald_plugin::wit_bindgen::rt",
            with: {
                "herald:provider/types@1.5.0": ::herald_plugin::types,
                "herald:provider/host@1.5.0": ::herald_plugin::imports,
                "herald:provider/uncertainty@1.5.0": ::herald_plugin::uncertainty,
                "herald:provider/signatures@1.5.0": ::herald_plugin::signatures,
                "herald:provider/batch-http@1.5.0": ::herald_plugin::batch_http,
            },
        });
    };
}
