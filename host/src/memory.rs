//! Giving memory back to the system after a large, passing allocation.
//!
//! The process's allocator (mimalloc, see main.rs) keeps pages freed by a
//! thread resident until that thread's heap is collected: after the bundled
//! plugins were installed at start, the blocks that had held the Python
//! plugin's bytes (18 MB each: the file read, its copies for the database)
//! stayed resident for the life of the server. Measured idle after a start
//! with the bytes stored in pieces (`store::plugin_wasm`): 79 MiB (a first
//! start) and 94-96 MiB (a restart) without this, 58 MiB with it.

/// Returns the memory freed so far to the system. It walks the allocator's
/// heaps: for after rare, large work (installing plugins), not for the
/// send path.
pub fn give_back() {
    // SAFETY: takes no pointers; collects mimalloc's own heaps (a no-op
    // where another allocator is the global one, as in unit tests).
    unsafe { libmimalloc_sys::mi_collect(true) }
}
