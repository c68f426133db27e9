//! The API's shape rules, checked on every answer the suite receives
//! through its client (so the whole e2e suite walks them): one time format
//! (RFC 3339 text, never a number), and one paging style (a list is a page
//! object with `items` and `next_cursor`, never a bare array).

use serde_json::Value;

/// Panics, naming the request and the field, when an answer breaks a rule.
pub fn check_answer(path: &str, answer: &Value) {
    if answer.is_array() {
        panic!("{path} answered a bare JSON array; lists answer {{items, next_cursor}}: {answer}");
    }
    walk(path, "", answer);
}

/// An error answer to an API route is the documented JSON error.
pub fn check_error(path: &str, status: u16, answer: &Value) {
    if status < 400 || !path.starts_with("/v1/") {
        return;
    }
    let error = &answer["error"];
    if !(error["code"].is_string() && error["message"].is_string()) {
        panic!("{path} answered {status} without the JSON error shape: {answer}");
    }
}

fn walk(path: &str, at: &str, value: &Value) {
    match value {
        Value::Object(fields) => {
            if fields.get("items").is_some_and(Value::is_array)
                && !fields.contains_key("next_cursor")
            {
                panic!("{path}: the list at {at:?} has no next_cursor: {value}");
            }
            for (name, field) in fields {
                if is_time(name) && field.is_number() {
                    panic!("{path}: {at}.{name} is a number ({field}); times are RFC 3339 text");
                }
                if is_time(name) && field.is_string() {
                    let text = field.as_str().unwrap_or_default();
                    if !name.ends_with("_local") && text.parse::<jiff::Timestamp>().is_err() {
                        panic!("{path}: {at}.{name} = {text:?} is not RFC 3339");
                    }
                }
                walk(path, &format!("{at}.{name}"), field);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(path, &format!("{at}[{i}]"), item);
            }
        }
        _ => {}
    }
}

/// A field that holds an instant: `*_at` (and its `_local` companion),
/// `at`, `now`.
fn is_time(name: &str) -> bool {
    name == "at" || name == "now" || name.ends_with("_at") || name.ends_with("_at_local")
}

#[test]
fn the_rules_catch_what_they_are_for() {
    use serde_json::json;
    let fine = json!({"items": [{"sent_at": "2026-12-01T14:17:06.934Z", "at": null}],
        "next_cursor": null, "ends_at_local": "2026-12-01T06:17:06"});
    check_answer("/ok", &fine);
    for bad in [
        json!([1, 2]),
        json!({"items": []}),
        json!({"member": {"sent_at": 1764598626934i64}}),
        json!({"at": "yesterday"}),
    ] {
        let caught = std::panic::catch_unwind(|| check_answer("/bad", &bad));
        assert!(caught.is_err(), "{bad} passed");
    }
}
