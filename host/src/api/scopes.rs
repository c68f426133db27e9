//! What a named API key may do. `read`: every GET; `send`: creating and
//! acting on campaigns, lists, contacts, imports, media, templates and
//! reviews; `admin` (of the tenant): channels and their secrets, tenant
//! settings, the reply endpoint, the do-not-contact list, API keys and the
//! audit log. Decided from the request's method and path, so no route can
//! forget to ask.

use axum::http::Method;

use super::error::ApiError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Read,
    Send,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Send, Scope::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Send => "send",
            Self::Admin => "admin",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Scopes named in a request (`field` for the error), deduplicated in
/// their canonical order.
pub fn parse_scopes(names: &[String], field: &str) -> Result<Vec<Scope>, ApiError> {
    if names.is_empty() {
        return Err(ApiError::invalid(
            field,
            "name at least one scope: read, send, admin",
        ));
    }
    let mut scopes = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let scope = Scope::parse(name).ok_or_else(|| {
            ApiError::invalid(
                &format!("{field}[{i}]"),
                format!("unknown scope {name:?}; scopes are read, send, admin"),
            )
        })?;
        scopes.push(scope);
    }
    Ok(Scope::ALL
        .into_iter()
        .filter(|s| scopes.contains(s))
        .collect())
}

/// Paths whose every request is the tenant's administration.
const ADMIN_PATHS: [&str; 6] = [
    "/v1/channels",
    "/v1/tenant",
    "/v1/reply-endpoint",
    "/v1/dnc",
    "/v1/api-keys",
    "/v1/audit-log",
];

fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The scope a tenant request needs.
pub fn needed(method: &Method, path: &str) -> Scope {
    let reads = matches!(*method, Method::GET | Method::HEAD);
    let administers = ADMIN_PATHS.iter().any(|p| under(path, p));
    // Reading channels and settings is reading; keys and the audit log
    // are the tenant admin's even to read.
    let admin_even_to_read = under(path, "/v1/api-keys") || under(path, "/v1/audit-log");
    match (reads, administers) {
        (true, _) if admin_even_to_read => Scope::Admin,
        (true, _) => Scope::Read,
        (false, true) => Scope::Admin,
        (false, false) => Scope::Send,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_need_the_scope_of_what_they_do() {
        assert_eq!(needed(&Method::GET, "/v1/campaigns/3"), Scope::Read);
        assert_eq!(needed(&Method::GET, "/v1/channels"), Scope::Read);
        assert_eq!(needed(&Method::POST, "/v1/campaigns/3/start"), Scope::Send);
        assert_eq!(needed(&Method::POST, "/v1/lists"), Scope::Send);
        assert_eq!(needed(&Method::PATCH, "/v1/channels/2"), Scope::Admin);
        assert_eq!(needed(&Method::PATCH, "/v1/tenant"), Scope::Admin);
        assert_eq!(needed(&Method::DELETE, "/v1/dnc/+1415"), Scope::Admin);
        assert_eq!(needed(&Method::GET, "/v1/api-keys"), Scope::Admin);
        assert_eq!(needed(&Method::GET, "/v1/audit-log"), Scope::Admin);
        // A prefix of a word is not the path.
        assert_eq!(needed(&Method::POST, "/v1/tenants-x"), Scope::Send);
    }

    #[test]
    fn scopes_parse_in_order_and_unknown_ones_name_their_place() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_scopes(&names(&["admin", "read", "read"]), "scopes").unwrap(),
            vec![Scope::Read, Scope::Admin]
        );
        assert!(matches!(
            parse_scopes(&names(&["read", "write"]), "scopes"),
            Err(ApiError::Invalid { field, .. }) if field == "scopes[1]"
        ));
        assert!(parse_scopes(&[], "scopes").is_err());
    }
}
