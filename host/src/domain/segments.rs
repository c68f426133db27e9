//! SMS segment counting: how many parts a body goes out as, which is what
//! carriers bill (and so what credits charge, see `credits.rs`).
//!
//! A body written entirely in the GSM 03.38 alphabet travels as 7-bit septets:
//! 160 in a single message, 153 per part once it is split (each part loses
//! room to the concatenation header). Characters of the extension table take
//! two septets (an escape, then the character) and never straddle two parts.
//! Any other character switches the whole body to UCS-2: 70 UTF-16 code units
//! single, 67 per part, where a character outside the Basic Multilingual Plane
//! (most emoji) is a surrogate pair of two units that is never split.

/// The GSM 03.38 basic character set, one septet each (the escape code that
/// introduces the extension table is not a character and is left out).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The extension table: an escape septet plus one, so two septets each.
const GSM7_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

const GSM7_SINGLE: usize = 160;
const GSM7_PER_PART: usize = 153;
const UCS2_SINGLE: usize = 70;
const UCS2_PER_PART: usize = 67;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentCount {
    pub encoding: Encoding,
    /// Room used, in the encoding's unit: septets for GSM-7, UTF-16 code units
    /// for UCS-2 (what a "123/160" counter under a text box shows).
    pub units: usize,
    /// Messages billed. An empty body still goes out as one message.
    pub parts: usize,
}

/// Septets `c` takes in GSM-7, or `None` if GSM-7 cannot carry it.
pub fn gsm7_septets(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

pub fn encoding_of(body: &str) -> Encoding {
    if body.chars().all(|c| gsm7_septets(c).is_some()) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// Room `c` takes in `encoding`.
fn units_of(c: char, encoding: Encoding) -> usize {
    match encoding {
        // Only called with characters `encoding_of` accepted.
        Encoding::Gsm7 => gsm7_septets(c).unwrap_or(2),
        Encoding::Ucs2 => c.len_utf16(),
    }
}

fn limits(encoding: Encoding) -> (usize, usize) {
    match encoding {
        Encoding::Gsm7 => (GSM7_SINGLE, GSM7_PER_PART),
        Encoding::Ucs2 => (UCS2_SINGLE, UCS2_PER_PART),
    }
}

pub fn count(body: &str) -> SegmentCount {
    let encoding = encoding_of(body);
    let units = body.chars().map(|c| units_of(c, encoding)).sum();
    SegmentCount {
        encoding,
        units,
        parts: split(body).len().max(1),
    }
}

/// The parts `body` is sent as, in order. Splits fall between characters, so a
/// GSM-7 escape pair or a UTF-16 surrogate pair is never cut in two.
pub fn split(body: &str) -> Vec<&str> {
    let encoding = encoding_of(body);
    let (single, per_part) = limits(encoding);
    let total: usize = body.chars().map(|c| units_of(c, encoding)).sum();
    if total <= single {
        return if body.is_empty() { vec![] } else { vec![body] };
    }
    let mut parts = Vec::new();
    let (mut part_start, mut used) = (0, 0);
    for (at, c) in body.char_indices() {
        let n = units_of(c, encoding);
        if used + n > per_part {
            parts.push(&body[part_start..at]);
            (part_start, used) = (at, 0);
        }
        used += n;
    }
    parts.push(&body[part_start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_basic_set_has_127_characters_and_the_extension_10() {
        assert_eq!(GSM7_BASIC.chars().count(), 127);
        assert_eq!(GSM7_EXTENSION.chars().count(), 10);
        let overlap = GSM7_BASIC.chars().filter(|c| GSM7_EXTENSION.contains(*c));
        assert_eq!(overlap.count(), 0);
    }

    #[test]
    fn gsm_single_and_multipart_limits() {
        let a = |n| "a".repeat(n);
        assert_eq!(count(&a(160)).parts, 1);
        assert_eq!(count(&a(161)).parts, 2);
        assert_eq!(count(&a(306)).parts, 2);
        assert_eq!(count(&a(307)).parts, 3);
        let c = count(&a(161));
        assert_eq!((c.encoding, c.units), (Encoding::Gsm7, 161));
    }

    #[test]
    fn empty_body_is_one_message() {
        assert_eq!(
            count(""),
            SegmentCount {
                encoding: Encoding::Gsm7,
                units: 0,
                parts: 1
            }
        );
    }

    #[test]
    fn extension_characters_take_two_septets() {
        assert_eq!(count("€").units, 2);
        assert_eq!(count("[x]").units, 5);
        assert_eq!(count(&"€".repeat(80)).parts, 1);
        assert_eq!(count(&"€".repeat(81)).parts, 2);
        assert_eq!(count("\u{0C}").units, 2);
    }

    #[test]
    fn an_escape_pair_never_straddles_two_parts() {
        // 306 septets would fit in two parts of 153, but the '{' at septets
        // 153-154 moves to the second part, which then overflows.
        let body = format!("{}{{{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(count(&body).units, 306);
        let parts = split(&body);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "a".repeat(152));
        assert!(parts[1].starts_with('{'));
    }

    #[test]
    fn one_non_gsm_character_switches_to_ucs2() {
        let body = format!("{}ł", "a".repeat(69));
        let c = count(&body);
        assert_eq!((c.encoding, c.units, c.parts), (Encoding::Ucs2, 70, 1));
        assert_eq!(count(&format!("{body}a")).parts, 2);
        // Greek capitals that GSM-7 lacks (it has Δ but not Α, which looks like A).
        assert_eq!(encoding_of("Δ"), Encoding::Gsm7);
        assert_eq!(encoding_of("Α"), Encoding::Ucs2);
        // Curly quotes pasted from a word processor are a classic surprise.
        assert_eq!(encoding_of("it’s"), Encoding::Ucs2);
    }

    #[test]
    fn emoji_count_two_units_and_are_never_split() {
        assert_eq!(count("😀").units, 2);
        assert_eq!(count(&"😀".repeat(35)).parts, 1);
        // 72 units: 33 emoji (66 units) fill the first part, since a 34th
        // would need units 67 and 68.
        let body = "😀".repeat(36);
        let parts = split(&body);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].chars().count(), 33);
        assert_eq!(parts[1].chars().count(), 3);
    }

    fn arb_gsm_char() -> impl Strategy<Value = char> {
        let all: Vec<char> = GSM7_BASIC.chars().chain(GSM7_EXTENSION.chars()).collect();
        proptest::sample::select(all)
    }

    fn arb_basic_char() -> impl Strategy<Value = char> {
        proptest::sample::select(GSM7_BASIC.chars().collect::<Vec<_>>())
    }

    fn arb_text() -> impl Strategy<Value = String> {
        let any_char = prop_oneof![4 => arb_gsm_char(), 1 => any::<char>()];
        proptest::collection::vec(any_char, 0..700).prop_map(|cs| cs.into_iter().collect())
    }

    proptest! {
        #[test]
        fn basic_gsm_follows_the_ceiling_rule(
            chars in proptest::collection::vec(arb_basic_char(), 1..1000),
        ) {
            let body: String = chars.iter().collect();
            let n = chars.len();
            let expected = if n <= 160 { 1 } else { n.div_ceil(153) };
            let c = count(&body);
            prop_assert_eq!((c.encoding, c.units, c.parts), (Encoding::Gsm7, n, expected));
        }

        #[test]
        fn parts_never_decrease_as_the_body_grows(body in arb_text(), cut in 0usize..700) {
            let cut = body.char_indices().map(|(i, _)| i).nth(cut).unwrap_or(body.len());
            prop_assert!(count(&body[..cut]).parts <= count(&body).parts);
        }

        #[test]
        fn any_non_gsm_character_means_ucs2(body in arb_text(), c in any::<char>()) {
            prop_assume!(gsm7_septets(c).is_none());
            let mixed = format!("{body}{c}");
            let counted = count(&mixed);
            prop_assert_eq!(counted.encoding, Encoding::Ucs2);
            prop_assert_eq!(counted.units, mixed.encode_utf16().count());
        }

        #[test]
        fn parts_rebuild_the_body_and_respect_the_limits(body in arb_text()) {
            let parts = split(&body);
            prop_assert_eq!(parts.concat(), body.clone());
            let encoding = encoding_of(&body);
            let (single, per_part) = limits(encoding);
            let size = |p: &str| p.chars().map(|c| units_of(c, encoding)).sum::<usize>();
            let limit = if parts.len() == 1 { single } else { per_part };
            for p in &parts {
                prop_assert!(!p.is_empty());
                prop_assert!(size(p) <= limit, "{} > {limit}", size(p));
            }
            // Greedy: each part was full enough that the next character
            // (the first of the following part) did not fit.
            for pair in parts.windows(2) {
                let next = pair[1].chars().next().unwrap();
                prop_assert!(size(pair[0]) + units_of(next, encoding) > per_part);
            }
        }
    }
}
