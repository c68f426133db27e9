//! Batches as one JSON array parameter, read as table rows by each
//! backend's JSON functions: imports, the send path's outcome and receipt
//! writes, duplicate checks.

use serde::Serialize;

use super::Backend;

/// The rows of the JSON array bound to `param`, as table `r`, in each
/// backend's spelling; both read a row's fields with `r.value ->> 'name'`.
///
/// A batch travels as one JSON parameter rather than thousands of bound
/// values: the statement text never changes (prepared once, planned for an
/// index lookup per value), and neither backend pays per parameter (SQLite
/// finds each `$N` by walking a list, quadratic in the count; PostgreSQL
/// parsed and planned a 9,000-parameter `VALUES` list for every batch).
///
/// SQLite needs a `WHERE` in an `INSERT .. SELECT .. ON CONFLICT` (else it
/// reads `ON` as a join), hence the `WHERE true`s of such statements.
pub(super) fn json_rows(backend: Backend, param: &str) -> String {
    match backend {
        Backend::Sqlite => format!("json_each({param}) AS r"),
        Backend::Postgres => format!("json_array_elements({param}::json) AS r"),
    }
}

/// A text field of the current row of [`json_rows`].
pub(super) fn json_text(name: &str) -> String {
    format!("r.value ->> '{name}'")
}

/// An integer field of the current row of [`json_rows`] (PostgreSQL's
/// `->>` answers text).
pub(super) fn json_int(name: &str) -> String {
    format!("CAST(r.value ->> '{name}' AS BIGINT)")
}

/// `[{"v": ..}, ..]` for a list of single values.
pub(super) fn json_values<T: Serialize>(values: impl Iterator<Item = T>) -> String {
    let rows: Vec<_> = values.map(|v| serde_json::json!({ "v": v })).collect();
    serde_json::Value::Array(rows).to_string()
}

/// The parameter [`json_rows`] reads: `rows` as a JSON array.
pub(super) fn json_array<T: Serialize + ?Sized>(rows: &T) -> String {
    serde_json::to_string(rows).expect("plain values serialize")
}
