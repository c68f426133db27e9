//! One paging style for every list: `?limit=&cursor=` in, and
//! `{"items": [...], "next_cursor": ...}` out (`next_cursor` is null on the
//! last page; pass it back as `cursor` for the next one). Cursors are opaque
//! to clients: each list decides what it keeps in one (an id, a row number,
//! an address).

use serde::{Deserialize, Serialize};

use super::error::ApiError;

/// A page of a list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// The paging parameters of a list without filters.
#[derive(Deserialize, utoipa::IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page (each list documents its default and maximum).
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// `limit`, defaulted and kept within `1..=max`.
pub fn limit(limit: Option<i64>, default: i64, max: i64) -> i64 {
    limit.unwrap_or(default).clamp(1, max)
}

/// A cursor holding an id (or row number): the items after it. None: the
/// first page.
pub fn id_cursor(cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    cursor
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<i64>()
                .ok()
                .filter(|id| *id >= 0)
                .ok_or_else(|| ApiError::invalid("cursor", "not a cursor from this list"))
        })
        .transpose()
}

impl<T> Page<T> {
    /// A page from a store query that fetched up to `limit + 1` rows: the
    /// extra one says there is a next page, whose cursor `key` makes from
    /// this page's last item.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Self {
        let next_cursor = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(key)
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }

    /// A page of a short list held in memory, ordered by `key` (an id, a
    /// name: whatever identifies an item; the cursor holds it).
    pub fn of_all<K>(
        mut all: Vec<T>,
        query: &PageQuery,
        max: i64,
        key: impl Fn(&T) -> K,
    ) -> Result<Self, ApiError>
    where
        K: Ord + ToString + std::str::FromStr,
    {
        let after = query
            .cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(|c| {
                c.parse::<K>()
                    .map_err(|_| ApiError::invalid("cursor", "not a cursor from this list"))
            })
            .transpose()?;
        all.sort_by_key(&key);
        let limit = limit(query.limit, max, max);
        let rows: Vec<T> = all
            .into_iter()
            .filter(|item| after.as_ref().is_none_or(|after| key(item) > *after))
            .take(limit as usize + 1)
            .collect();
        Ok(Self::from_rows(rows, limit, |item| key(item).to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_a_list_once() {
        let all: Vec<i64> = (1..=7).collect();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let query = PageQuery {
                limit: Some(3),
                cursor,
            };
            let page = Page::of_all(all.clone(), &query, 100, |i| *i).unwrap();
            seen.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, all);
    }

    #[test]
    fn a_foreign_cursor_is_refused() {
        assert!(id_cursor(Some("abc")).is_err());
        assert!(id_cursor(Some("-1")).is_err());
        assert_eq!(id_cursor(Some("")).unwrap(), None);
        assert_eq!(id_cursor(Some("42")).unwrap(), Some(42));
    }
}
