//! Phone numbers: `E164::parse` (strict, the API's) and `E164::normalize`
//! (as people write them, the import's), with `Region::parse`.
//!
//! Input: `REGION\nNUMBER`, or a number alone (no region).
//!
//! Properties: nothing panics; what either accepts is strict E.164 (`+`,
//! 1-15 digits, no leading zero) and a fixpoint: it parses, and normalises
//! in any region, to itself; a strict parse is also accepted by
//! `normalize`, with the same result.
#![no_main]

use herald_fuzz::domain::phone::{E164, Region};
use libfuzzer_sys::fuzz_target;

fn assert_canonical(e: &E164, from: &str) {
    let s = e.as_str();
    let digits = s.strip_prefix('+').expect("E.164 starts with +");
    assert!(
        !digits.is_empty()
            && digits.len() <= 15
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0'),
        "{from:?} became {s:?}, not E.164"
    );
    assert_eq!(
        E164::parse(s).as_ref(),
        Ok(e),
        "{from:?} -> {s:?} does not re-parse to itself"
    );
    for region in [None, Region::parse("US").ok(), Region::parse("DE").ok()] {
        assert_eq!(
            E164::normalize(s, region).as_ref(),
            Ok(e),
            "{from:?} -> {s:?} does not normalise to itself in {region:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (region, number) = match text.split_once('\n') {
        Some((r, n)) => (Region::parse(r).ok(), n),
        None => (None, text),
    };
    if let Ok(e) = E164::parse(number) {
        assert_canonical(&e, number);
        assert_eq!(E164::normalize(number, region).as_ref(), Ok(&e));
    }
    if let Ok(e) = E164::normalize(number, region) {
        assert_canonical(&e, number);
    }
});
