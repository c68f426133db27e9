//! Message bodies: `BodyTemplate::parse`, its variable checks and the
//! plain and HTML renders, in both missing-field modes.
//!
//! Input: the template source, then (after a NUL byte) the contact's
//! values as `name=value` lines.
//!
//! Properties: nothing panics (minijinja errors come back as `Err`);
//! `RenderEmpty` never reports a missing value; `SkipMember` names the
//! missing variable (one the body uses and the contact lacks) and, when it
//! renders, renders what `RenderEmpty` does; an HTML render of a body with
//! no markup and no `safe`/`raw`/`autoescape` never lets a `<` through,
//! whatever the contact's values hold.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use herald_fuzz::domain::template::{BodyTemplate, MissingField, TemplateError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (source, values) = herald_fuzz::split_first(data, 0);
    let (Ok(source), Ok(values)) = (std::str::from_utf8(source), std::str::from_utf8(values))
    else {
        return;
    };
    let values: BTreeMap<String, String> = values
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let Ok(t) = BodyTemplate::parse(source) else {
        return;
    };
    let variables = t.variables();
    let custom: BTreeSet<String> = values.keys().cloned().collect();
    let _ = t.check_variables(&custom);
    let required = t.required();
    assert!(
        required.is_subset(&variables),
        "{required:?} not in {variables:?}"
    );

    let lenient = t.render(&values, MissingField::RenderEmpty);
    assert!(
        !matches!(lenient, Err(TemplateError::MissingValue(_))),
        "render_empty reported {lenient:?}"
    );
    match t.render(&values, MissingField::SkipMember) {
        Err(TemplateError::MissingValue(name)) => {
            assert!(
                variables.contains(&name),
                "missing {name:?}, not one of {variables:?}"
            );
            let given = values.get(&name).is_some_and(|v| !v.trim().is_empty());
            assert!(!given, "{name:?} reported missing but has a value");
        }
        Ok(text) => assert_eq!(Ok(text), lenient, "strict and lenient renders differ"),
        Err(_) => {}
    }

    let html = t.render_html(&values, MissingField::RenderEmpty);
    let trusted = ["<", "safe", "raw", "autoescape"]
        .iter()
        .any(|m| source.contains(m));
    if let Ok(html) = html
        && !trusted
    {
        assert!(!html.contains('<'), "unescaped markup in {html:?}");
    }
});
