//! The OpenAPI document served at `/openapi.json`, generated from the
//! handlers' annotations so it cannot drift from the routes.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, Required};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Herald", description = "Campaign server with sandboxed provider plugins"),
    paths(
        super::tenants::create, super::tenants::list, super::tenants::me,
        super::tenants::update_settings, super::tenants::set_flags,
        super::credits::balance, super::credits::ledger, super::credits::tenant_balance,
        super::credits::adjust,
        super::channels::create, super::channels::list, super::channels::get, super::channels::update,
        super::lists::create, super::lists::list, super::lists::get, super::lists::delete,
        super::lists::add_contacts, super::lists::contacts, super::lists::remove_contact,
        super::lists::get_contact, super::lists::update_contact, super::lists::delete_contact,
        super::exports::list_csv, super::exports::campaign_csv, super::campaigns::enrol,
        super::imports::into_list, super::imports::into_campaign, super::imports::list,
        super::imports::get, super::imports::cancel, super::imports::rejections,
        super::imports::rejections_csv,
        super::dnc::list, super::dnc::add, super::dnc::remove, super::dnc::import,
        super::message_templates::create, super::message_templates::list,
        super::message_templates::get, super::message_templates::edit,
        super::message_templates::delete,
        super::campaigns::create, super::campaign_list::list, super::campaigns::get,
        super::campaign_ops::start, super::campaign_ops::go_live, super::campaign_ops::pause, super::campaign_ops::resume,
        super::campaign_ops::cancel, super::campaign_ops::archive,
        super::campaign_ops::retry_failed, super::campaign_ops::delete,
        super::campaign_ops::duplicate, super::campaign_ops::edit,
        super::campaigns::progress, super::campaign_preview::preview, super::campaigns::members,
        super::campaigns::conversation, super::campaigns::journey, super::campaign_timing::edit,
        super::review::approve, super::review::approve_many, super::review::execute_approved,
        super::review::edit_content, super::review::content, super::review::disable,
        super::review::enable, super::resolve::resolve_one, super::resolve::resolve_many,
        super::templates::sync, super::templates::list,
        super::media::upload, super::media::get,
        super::replies::set, super::replies::get, super::replies::sessions,
        super::plugins::list,
        super::admin_plugins::install, super::admin_plugins::list, super::admin_plugins::activate,
        super::admin_plugins::rollback, super::admin_plugins::disable,
        super::admin_plugins::set_limits, super::admin_channels::set_allowed_hosts,
        super::admin_canary::start, super::admin_canary::abort, super::admin_canary::promote,
        super::tenant_plugins::get, super::tenant_plugins::set,
        super::trusted_keys::list, super::trusted_keys::add, super::trusted_keys::remove,
        super::api_keys::create, super::api_keys::list, super::api_keys::revoke,
        super::audit::tenant_log, super::audit::admin_log,
    ),
    modifiers(&BearerKeys, &Consistent)
)]
pub struct ApiDoc;

struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for name in ["api_key", "admin_key"] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// What the annotations cannot promise on their own, made true of the whole
/// document: each operation has a unique `operationId` (its method and
/// path: handler names repeat across modules), every `{param}` of a path is
/// declared as a path parameter, and the error answers every operation can
/// give (bad input, authentication, scopes, limits) are documented with
/// the error body.
struct Consistent;

impl Modify for Consistent {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let names: Vec<&str> = path
                .split('{')
                .skip(1)
                .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
                .collect();
            let operations = [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("patch", &mut item.patch),
                ("head", &mut item.head),
                ("options", &mut item.options),
                ("trace", &mut item.trace),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                operation.operation_id = Some(operation_id(method, path));
                let has_body = operation.request_body.is_some();
                let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let has_query = operation
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| p.parameter_in == ParameterIn::Query);
                let answers = &mut operation.responses.responses;
                for (code, when, applies) in [
                    ("400", "the path, query or body does not parse", true),
                    (
                        "401",
                        "no API key, or not one the server knows (revoked, expired)",
                        secured,
                    ),
                    (
                        "403",
                        "outside the key's scopes, or switched off for the tenant",
                        secured,
                    ),
                    (
                        "404",
                        "no such resource (or another tenant's)",
                        !names.is_empty(),
                    ),
                    ("413", "the body is over the route's size limit", has_body),
                    (
                        "422",
                        "a field's value is not acceptable (`field` names it)",
                        has_body || has_query || !names.is_empty(),
                    ),
                    (
                        "429",
                        "the key is over its request rate (`Retry-After`)",
                        secured,
                    ),
                ] {
                    if applies {
                        answers
                            .entry(code.to_owned())
                            .or_insert_with(|| error_response(when));
                    }
                }
                let parameters = operation.parameters.get_or_insert_with(Vec::new);
                for name in &names {
                    let declared = parameters
                        .iter()
                        .any(|p| p.name == *name && p.parameter_in == ParameterIn::Path);
                    if !declared {
                        parameters.push(path_parameter(name));
                    }
                }
            }
        }
    }
}

/// An error answer: the documented `ErrorBody`.
fn error_response(when: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(when)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

/// `get_v1_campaigns_id_members` for `GET /v1/campaigns/{id}/members`.
fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<&str> = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    format!("{method}_{}", words.join("_"))
}

/// A path parameter: ids are integers, names and tokens text.
fn path_parameter(name: &str) -> Parameter {
    let numeric = matches!(name, "id" | "member" | "contact" | "channel");
    let kind = if numeric { Type::Integer } else { Type::String };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(ObjectBuilder::new().schema_type(kind)))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_are_unique_and_path_parameters_declared() {
        let doc = ApiDoc::openapi();
        let mut ids = std::collections::HashSet::new();
        for (path, item) in &doc.paths.paths {
            for operation in [&item.get, &item.put, &item.post, &item.delete, &item.patch]
                .into_iter()
                .flatten()
            {
                let id = operation.operation_id.clone().unwrap();
                assert!(ids.insert(id.clone()), "{id} twice");
                for name in path.split('{').skip(1).filter_map(|r| r.split_once('}')) {
                    let declared = operation
                        .parameters
                        .iter()
                        .flatten()
                        .any(|p| p.name == name.0 && p.parameter_in == ParameterIn::Path);
                    assert!(declared, "{id}: {{{}}} undeclared", name.0);
                }
            }
        }
        assert!(ids.contains("get_v1_campaigns_id_members"));
    }
}
