//! Host-side bindings generated from `wit/provider.wit`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "provider-plugin",
    // Imports are async (http-send awaits the network) and may trap.
    imports: { default: async | trappable },
    exports: { default: async },
});
