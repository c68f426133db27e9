//! The host's import reader (the file scan and the streaming read), compiled
//! from its own file (see lib.rs).

#[path = "../../host/src/engine/import_reader.rs"]
pub mod import_reader;
