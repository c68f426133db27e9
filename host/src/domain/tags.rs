//! Campaign tags (seed 002): a default tag derived from the campaign's name,
//! plus the user's own. Tags are slugs, so "Spring Sale" and "spring-sale"
//! are one tag and a tag is safe in a URL query.

/// Tags a campaign may carry besides its default one.
pub const MAX_CUSTOM_TAGS: usize = 20;
/// Longest tag, in characters.
pub const MAX_TAG_LEN: usize = 64;

/// The slug of `text`: lowercase ASCII letters and digits, every other run of
/// characters one `-`, none at either end, at most [`MAX_TAG_LEN`] long.
/// Letters outside ASCII are dropped rather than guessed at.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('-');
            }
            gap = false;
            out.push(c.to_ascii_lowercase());
            if out.len() >= MAX_TAG_LEN {
                break;
            }
        } else {
            gap = true;
        }
    }
    out
}

/// The tag every campaign carries, from its name; `campaign` if the name has
/// no ASCII letter or digit at all.
pub fn default_tag(name: &str) -> String {
    let tag = slug(name);
    if tag.is_empty() {
        "campaign".to_string()
    } else {
        tag
    }
}

/// Custom tags as given -> their slugs, deduplicated, in order, without the
/// default tag (always present anyway). An error names the offending entry.
pub fn custom_tags(given: &[String], default: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for (i, raw) in given.iter().enumerate() {
        let tag = slug(raw);
        if tag.is_empty() {
            return Err(format!(
                "tags[{i}]: {raw:?} has no letter or digit; a tag is a word like \"vip\""
            ));
        }
        if tag != default && !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > MAX_CUSTOM_TAGS {
        return Err(format!(
            "at most {MAX_CUSTOM_TAGS} tags besides the default one; {} given",
            out.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_become_slugs() {
        assert_eq!(default_tag("Spring Sale 2026!"), "spring-sale-2026");
        assert_eq!(default_tag("  --Black  Friday-- "), "black-friday");
        assert_eq!(default_tag("Café résumé"), "caf-r-sum");
        assert_eq!(default_tag("¡¿?!"), "campaign");
    }

    #[test]
    fn custom_tags_are_normalised_and_deduplicated() {
        let given = [
            "VIP".to_string(),
            "vip".into(),
            "Spring Sale".into(),
            "q2".into(),
        ];
        assert_eq!(custom_tags(&given, "spring-sale").unwrap(), ["vip", "q2"]);
        let err = custom_tags(&["ok".into(), "!!".into()], "x").unwrap_err();
        assert!(err.starts_with("tags[1]"), "{err}");
        let many: Vec<String> = (0..=MAX_CUSTOM_TAGS).map(|i| format!("t{i}")).collect();
        assert!(custom_tags(&many, "x").is_err());
    }

    proptest! {
        #[test]
        fn a_slug_is_its_own_slug(text in ".{0,100}") {
            let s = slug(&text);
            prop_assert_eq!(slug(&s), s.clone());
            prop_assert!(s.len() <= MAX_TAG_LEN);
            prop_assert!(s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
            prop_assert!(!s.starts_with('-') && !s.ends_with('-') && !s.contains("--"));
        }
    }
}
