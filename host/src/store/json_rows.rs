//! Batches as one JSON array parameter, read as table rows by each
//! backend's JSON functions: imports, the send path's outcome and receipt
//! writes, duplicate checks.

use serde::Serialize;

use super::Backend;

/// The backend a transaction runs on, for statements written where the
/// store's own `backend` is not at hand.
pub(super) fn backend_of(tx: &sqlx::Transaction<'_, sqlx::Any>) -> Backend {
    if tx.backend_name() == "PostgreSQL" {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

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
///
/// SQLite reads each row's `value` once, into a materialized table: every
/// mention of `json_each`'s own `value` turns the row back into text, so a
/// statement reading 14 fields converted each row 14 times (with the
/// parsing of that text, 3% of Herald's CPU on the send path). The table
/// holds each row as SQLite's binary JSON (`jsonb`, parsed once): each
/// `->>` then finds its field in it, where on text it parsed the row again
/// for every field read (2% of Herald's CPU on the dispatch benchmark).
/// (`jsonb_each` would skip the text altogether; it needs SQLite 3.47,
/// and libsqlite3-sys bundles 3.46.)
///
/// PostgreSQL reads the batch as `jsonb`, parsed once: each `->>` on a
/// `json` value parses its text again, and a plan that compared every
/// member with every row of the batch (a new table's statistics said it
/// was tiny) spent 200 ms of a 200-outcome write re-parsing (the dispatch
/// benchmark's outcome transactions; `auto_explain` showed it).
pub(super) fn json_rows(backend: Backend, param: &str) -> String {
    match backend {
        Backend::Sqlite => format!(
            "(WITH r AS MATERIALIZED (SELECT jsonb(value) AS value FROM json_each({param})) \
             SELECT value FROM r) AS r"
        ),
        Backend::Postgres => format!("jsonb_array_elements({param}::jsonb) AS r"),
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

/// The batch of [`json_rows`] for a statement that finds members by the
/// rows' `id` field: a `WITH` prefix, the `FROM` item and the key to join
/// on.
pub(super) struct KeyedRows {
    pub with: String,
    pub from: String,
    pub id: String,
}

/// On PostgreSQL the rows are computed once with their `id` as a typed
/// column: a plan that compares every member with every row (a table's
/// statistics saying that few members match, as they do right after a
/// campaign starts) then compares integers, where it parsed the row's
/// JSON for each pair (200 ms for a batch of 200 outcomes at 10,000
/// members, seen with `auto_explain`). SQLite starts from the rows and
/// finds each member by primary key (the plan guard checks it).
pub(super) fn keyed_rows(backend: Backend, param: &str) -> KeyedRows {
    match backend {
        Backend::Sqlite => KeyedRows {
            with: String::new(),
            from: json_rows(backend, param),
            id: json_int("id"),
        },
        Backend::Postgres => KeyedRows {
            with: format!(
                "WITH r AS MATERIALIZED (SELECT CAST(value ->> 'id' AS BIGINT) AS id, value \
                 FROM jsonb_array_elements({param}::jsonb)) "
            ),
            from: "r".to_owned(),
            id: "r.id".to_owned(),
        },
    }
}

/// The ids of a [`json_values`] batch bound to `param`, as a subquery for
/// `id IN (..)`: the statement's text is the same for every batch, so it
/// is prepared once (an id list written into the SQL made each claim's
/// statements new text, parsed and planned every time: `sqlite3Prepare`
/// was 3% of Herald's CPU on the dispatch benchmark). Either backend runs
/// the subquery once and finds each member by primary key.
pub(super) fn id_subquery(backend: Backend, param: &str) -> String {
    format!(
        "SELECT {} FROM {}",
        json_int("v"),
        json_rows(backend, param)
    )
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::*;
    use crate::store::test_store;

    /// A batch reads back exactly what was bound, on both backends: the
    /// send path writes message bodies, error messages and names this way
    /// (quotes, escapes, non-ASCII text, nulls, ids past 2^53).
    #[tokio::test]
    async fn a_batch_reads_back_exactly_what_was_bound() {
        #[derive(Serialize)]
        struct Row<'a> {
            id: i64,
            text: Option<&'a str>,
        }
        let texts = [
            Some("plain"),
            Some("quote \" backslash \\ slash / tab \t newline \n"),
            Some("Grüße, 你好, 👋🏽 and \u{0001}"),
            Some("{\"looks\": [\"like\", \"json\"]}"),
            Some(""),
            None,
        ];
        let rows: Vec<Row> = texts
            .iter()
            .enumerate()
            .map(|(i, text)| Row {
                id: (1 << 60) + i as i64,
                text: *text,
            })
            .collect();
        for t in test_store::backends().await {
            let sql = format!(
                "SELECT {id} AS id, {text} AS text FROM {rows}",
                id = json_int("id"),
                text = json_text("text"),
                rows = json_rows(t.store.backend, "$1"),
            );
            let mut read: Vec<(i64, Option<String>)> = sqlx::query(&sql)
                .bind(json_array(&rows))
                .fetch_all(&t.store.pool)
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get("id"), r.get("text")))
                .collect();
            read.sort();
            let expected: Vec<(i64, Option<String>)> = rows
                .iter()
                .map(|r| (r.id, r.text.map(str::to_owned)))
                .collect();
            assert_eq!(read, expected, "{:?}", t.store.backend);
        }
    }
}
