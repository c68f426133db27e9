//! The host's pure domain modules, compiled from their own files (see
//! lib.rs). Paths are relative to this file's directory.

#[path = "../../host/src/domain/import.rs"]
pub mod import;
#[path = "../../host/src/domain/import_cells.rs"]
pub mod import_cells;
#[path = "../../host/src/domain/phone.rs"]
pub mod phone;
#[path = "../../host/src/domain/template.rs"]
pub mod template;
