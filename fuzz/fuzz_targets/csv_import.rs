//! The CSV import: the unterminated-quote scan, the upload check
//! (`inspect`) and the streaming reader (`read_batches`) over the raw bytes
//! of a file, with the host's own code.
//!
//! Properties: nothing panics; the quote scan agrees with the CSV reader on
//! whether the file ends inside a quoted field; a UTF-8 file `inspect`
//! accepts is read without a file error and yields at least one row; every
//! non-blank record comes back exactly once (imported or rejected), in
//! order; an imported contact has a strict E.164 phone (a fixpoint of
//! `E164::parse`) or a lowercase email, and no cell over its cap or with a
//! control character; a row refused as a duplicate names an earlier
//! imported row with the same phone or email.
#![no_main]

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;

use herald_fuzz::domain::import::{RowRejection, looks_like_email};
use herald_fuzz::domain::import_cells::{MAX_CELL_BYTES, MAX_NAME_BYTES};
use herald_fuzz::domain::phone::{E164, Region};
use herald_fuzz::engine::import_reader::{check_quotes, inspect, read_batches};
use herald_fuzz::store::Checkpoint;
use libfuzzer_sys::fuzz_target;

const SENTINEL: &[u8] = b"HERALD_FUZZ_SENTINEL";

/// The reader takes a path (the upload is spooled to disk): a file in
/// memory (/dev/shm) where there is one, as /tmp on a disk costs
/// milliseconds per run.
fn spool(data: &[u8]) -> PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("herald-fuzz-{}.csv", std::process::id()));
    let mut file = std::fs::File::create(&path).expect("temp file");
    file.write_all(data).expect("write temp file");
    path
}

/// The reader the import uses (`import_reader::open`), over bytes.
fn reader(data: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data)
}

/// Whether the CSV reader ends `data` inside a quoted field: a line added
/// after it is then swallowed by that field instead of read as a record.
fn ends_in_open_quote(data: &[u8]) -> bool {
    let mut probe = data.to_vec();
    probe.push(b'\n');
    probe.extend_from_slice(SENTINEL);
    probe.push(b'\n');
    let mut last = None;
    for record in reader(&probe).byte_records() {
        last = Some(record.expect("byte records only fail on I/O"));
    }
    !matches!(last, Some(r) if r.len() == 1 && &r[0] == SENTINEL)
}

/// Non-blank records after the header, as `read_batches` counts them.
fn data_records(text: &str) -> usize {
    reader(text.as_bytes())
        .records()
        .skip(1)
        .map(|r| r.expect("valid UTF-8"))
        .filter(|r| !(r.len() == 1 && r[0].trim().is_empty()))
        .count()
}

fuzz_target!(|data: &[u8]| {
    let path = spool(data);
    let quotes = check_quotes(&path);
    assert_eq!(
        quotes.is_err(),
        ends_in_open_quote(data),
        "the quote scan and the CSV reader disagree: {quotes:?}"
    );
    let none = BTreeMap::new();
    let shape = inspect(&path, &none);
    let region = (data.len() % 2 == 0).then(|| Region::parse("US").unwrap());
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let read = read_batches(&path, &none, region, Checkpoint::default(), tx);
    // Building a CSV reader (its DFA) dominates a run under the
    // instrumentation: the oracle counts records once.
    let records = std::str::from_utf8(data).ok().map(data_records);
    if shape.is_ok()
        && let Some(records) = records
    {
        assert!(
            read.is_ok(),
            "inspect accepted, the reader refused: {read:?}"
        );
        assert!(records > 0, "inspect accepted a file without rows");
    }
    let mut batches = Vec::new();
    while let Ok(batch) = rx.try_recv() {
        batches.push(batch);
    }
    let Ok(()) = read else { return };
    let records = records.expect("the reader only succeeds on UTF-8");

    let mut seen = 0usize;
    let mut last_row = 1i64;
    let mut accepted: HashMap<i64, (Option<String>, Option<String>)> = HashMap::new();
    let mut duplicates = Vec::new();
    for batch in &batches {
        let mut rows: Vec<i64> = batch.rows.iter().map(|(row, _)| *row).collect();
        rows.extend(batch.rejected.iter().map(|(row, ..)| *row));
        rows.sort_unstable();
        for row in rows {
            assert!(row > last_row, "row {row} after row {last_row}");
            last_row = row;
            seen += 1;
        }
        for (row, c) in &batch.rows {
            assert!(
                c.phone.is_some() || c.email.is_some(),
                "row {row}: no address"
            );
            if let Some(phone) = &c.phone {
                assert_eq!(
                    E164::parse(phone).as_ref().map(E164::as_str),
                    Ok(phone.as_str())
                );
            }
            if let Some(email) = &c.email {
                assert!(looks_like_email(email) && *email == email.to_lowercase());
            }
            for name in [&c.first_name, &c.last_name].into_iter().flatten() {
                assert!(name.len() <= MAX_NAME_BYTES && !name.is_empty());
            }
            for value in c.fields.values().chain(&c.timezone) {
                assert!(value.len() <= MAX_CELL_BYTES && !value.trim().is_empty());
                assert!(!value.bytes().any(|b| b == 0 || b == 0x7f));
            }
            accepted.insert(*row, (c.phone.clone(), c.email.clone()));
        }
        for (row, why, phone, email) in &batch.rejected {
            if let RowRejection::DuplicateInFile { first_row } = why {
                duplicates.push((*row, *first_row, phone.clone(), email.clone()));
            }
        }
    }
    assert_eq!(seen, records, "rows lost or repeated");
    for (row, first_row, phone, email) in duplicates {
        let (p, e) = accepted
            .get(&(first_row as i64))
            .unwrap_or_else(|| panic!("row {row} repeats row {first_row}, not imported"));
        assert!(
            (phone.is_some() && phone == *p) || (email.is_some() && email == *e),
            "row {row} is no repeat of row {first_row}"
        );
    }
});
