//! The one time format Herald shows the outside world: RFC 3339 in UTC
//! with milliseconds when they are not zero (`2026-12-01T14:17:06.934Z`).
//! The store keeps epoch milliseconds (cheap to compare and index); these
//! serde adapters turn them into strings at the edge, in JSON answers,
//! CSV exports and forwarded payloads alike.
//!
//! Use as `#[serde(with = "crate::rfc3339::ms")]` on an `i64` field and
//! `#[serde(with = "crate::rfc3339::opt_ms")]` on an `Option<i64>`.

use serde::{Deserialize, Deserializer, Serializer};

/// `ms` since the epoch as RFC 3339 UTC text.
pub fn format(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        // Outside jiff's range (±9999 years) only a corrupt row can be;
        // say so rather than print a number a client would misread.
        .unwrap_or_else(|_| format!("invalid-time:{ms}"))
}

/// RFC 3339 text (any offset) as epoch milliseconds.
pub fn parse(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

pub mod ms {
    use super::*;

    pub fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not RFC 3339")))
    }
}

pub mod opt_ms {
    use super::*;

    pub fn serialize<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => s.serialize_str(&format(*ms)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => parse(&text)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not RFC 3339"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_show_only_when_there_are_some() {
        assert_eq!(format(1_764_598_626_934), "2025-12-01T14:17:06.934Z");
        assert_eq!(format(1_764_598_626_000), "2025-12-01T14:17:06Z");
        assert_eq!(
            parse("2025-12-01T15:17:06.934+01:00"),
            Some(1_764_598_626_934)
        );
        assert_eq!(parse("yesterday"), None);
    }

    #[test]
    fn fields_round_trip_as_text() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Row {
            #[serde(with = "ms")]
            at: i64,
            #[serde(with = "opt_ms")]
            maybe_at: Option<i64>,
        }
        let row = Row {
            at: 0,
            maybe_at: None,
        };
        let json = serde_json::to_string(&row).unwrap();
        assert_eq!(json, r#"{"at":"1970-01-01T00:00:00Z","maybe_at":null}"#);
        assert_eq!(serde_json::from_str::<Row>(&json).unwrap(), row);
    }
}
