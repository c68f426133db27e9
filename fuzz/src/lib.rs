//! What the fuzz targets share: the host's pure modules, compiled here on
//! their own, and a few helpers.
//!
//! The `herald` crate links wasmtime, sqlx and axum; building all of it
//! with libFuzzer's instrumentation takes far too long on a 2-core machine,
//! and none of it is what the targets exercise. The modules fuzzed (CSV
//! import rules, cell checks, phone numbers, templates, and the import
//! reader's file scan) are pure, so their source files are included as they
//! are with `#[path]` (src/domain.rs, src/engine.rs), inside `domain` and
//! `engine` modules named like the host's, so their `super::` and
//! `crate::domain::` paths resolve unchanged. The one other host item the
//! reader names, `crate::store`'s batch and checkpoint types, is declared
//! below with the same fields. Nothing in host/ changed for this.

#![allow(dead_code)]

pub mod domain;
pub mod engine;

/// The two `host/src/store` types the import reader fills (the same fields).
pub mod store {
    use crate::domain::import::{ImportedContact, RowRejection};

    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Checkpoint {
        pub byte: i64,
        pub line: i64,
        pub record: i64,
    }

    #[derive(Default)]
    pub struct ImportBatch {
        pub rows: Vec<(i64, ImportedContact)>,
        pub rejected: Vec<(i64, RowRejection, Option<String>, Option<String>)>,
        pub checkpoint: Checkpoint,
    }
}

use hmac::{Hmac, Mac};

/// HMAC-SHA1, as the host's `hmac` import computes it for Twilio.
pub fn hmac_sha1(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// HMAC-SHA256, as the host's `hmac` import computes it for Meta and Mailgun.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// An HTTP status chosen by the input (every class the error mappers
/// distinguish), so one body is tried as several refusals.
pub fn http_status(data: &[u8]) -> u16 {
    const STATUSES: [u16; 10] = [400, 401, 403, 404, 409, 422, 429, 500, 503, 200];
    let sum = data.iter().fold(0usize, |a, &b| a.wrapping_add(b as usize));
    STATUSES[sum % STATUSES.len()]
}

/// A `Retry-After` value chosen by the input: absent, a number, or text.
pub fn retry_after(data: &[u8]) -> Option<&'static str> {
    match data.len() % 4 {
        0 => None,
        1 => Some("3"),
        2 => Some("4294967295"),
        _ => Some("soon"),
    }
}

/// Splits `data` at the first `sep`: (before, after), or (data, empty).
pub fn split_first(data: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == sep) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}
