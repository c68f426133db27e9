//! Host-side bindings generated from `wit/provider.wit`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "provider-plugin",
    // Imports are async (http-send awaits the network) and may trap.
    imports: { default: async | trappable },
    exports: { default: async },
});

/// The 1.1 world that also exports `lookup`. Its types and host imports are
/// the base world's, so one `HostState` serves both and values pass
/// between them unconverted.
pub mod reconciling {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "reconciling-provider-plugin",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "herald:provider/types": super::herald::provider::types,
            "herald:provider/host": super::herald::provider::host,
            "herald:provider/uncertainty": super::herald::provider::uncertainty,
            "herald:provider/signatures": super::herald::provider::signatures,
            "herald:provider/batch-http": super::herald::provider::batch_http,
        },
    });
}
