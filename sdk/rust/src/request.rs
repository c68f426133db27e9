//! Outbound requests: JSON and form bodies, auth whose secrets stay
//! placeholders (`{{secret.NAME}}`) the host fills in, so no key ever enters
//! the plugin.

use serde::Serialize;

use crate::types::{HttpAuth, HttpRequest};

/// The placeholder the host replaces with the channel's secret `name`.
pub fn secret(name: &str) -> String {
    format!("{{{{secret.{name}}}}}")
}

/// `Authorization: Bearer <secret>`.
pub fn bearer(secret_name: &str) -> HttpAuth {
    HttpAuth::Bearer(secret(secret_name))
}

/// `Authorization: Basic` with a plain user and the secret `secret_name` as
/// password (Twilio: account SID and auth token; Mailgun: `api` and key).
pub fn basic(user: &str, secret_name: &str) -> HttpAuth {
    HttpAuth::Basic((user.into(), secret(secret_name)))
}

/// A request without a body.
pub fn get(url: impl Into<String>, auth: HttpAuth) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        url: url.into(),
        headers: vec![("Accept".into(), "application/json".into())],
        body: Vec::new(),
        auth,
        timeout_ms: None,
    }
}

/// `POST` of `body` as JSON.
pub fn json(url: impl Into<String>, auth: HttpAuth, body: &impl Serialize) -> HttpRequest {
    let mut request = get(url, auth);
    request.method = "POST".into();
    request
        .headers
        .push(("Content-Type".into(), "application/json".into()));
    // Serialising plain data (maps, strings, numbers) cannot fail.
    request.body = serde_json::to_vec(body).expect("a JSON-serialisable body");
    request
}

/// `POST` of `pairs` as `application/x-www-form-urlencoded`, repeated names
/// kept in order (Twilio's `MediaUrl`).
pub fn form<'a>(
    url: impl Into<String>,
    auth: HttpAuth,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> HttpRequest {
    let mut request = get(url, auth);
    request.method = "POST".into();
    request.headers.push((
        "Content-Type".into(),
        "application/x-www-form-urlencoded".into(),
    ));
    request.body = form_encode(pairs).into_bytes();
    request
}

pub fn form_encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// `text` percent-encoded for a query string value.
pub fn query_value(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Adds a header; builders chain it onto the constructors above.
pub fn with_header(mut request: HttpRequest, name: &str, value: impl Into<String>) -> HttpRequest {
    request.headers.push((name.into(), value.into()));
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_requests_carry_placeholders_not_secrets() {
        let r = json(
            "http://127.0.0.1/m",
            bearer("api-token"),
            &serde_json::json!({"to": "+1"}),
        );
        assert_eq!(r.method, "POST");
        assert!(matches!(r.auth, HttpAuth::Bearer(ref t) if t == "{{secret.api-token}}"));
        assert!(
            r.headers
                .contains(&("Content-Type".into(), "application/json".into()))
        );
        assert_eq!(r.body, br#"{"to":"+1"}"#);
    }

    #[test]
    fn form_requests_encode_and_keep_repeated_names() {
        let r = form(
            "u",
            basic("AC1", "auth-token"),
            [("Body", "a b&c"), ("MediaUrl", "x"), ("MediaUrl", "y")],
        );
        assert_eq!(r.body, b"Body=a+b%26c&MediaUrl=x&MediaUrl=y");
        assert!(
            matches!(r.auth, HttpAuth::Basic((ref u, ref p)) if u == "AC1" && p == "{{secret.auth-token}}")
        );
        assert_eq!(query_value("a+b c"), "a%2Bb+c");
    }
}
