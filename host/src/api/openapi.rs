//! The OpenAPI document served at `/openapi.json`, generated from the
//! handlers' annotations so it cannot drift from the routes.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
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
        super::lists::create, super::lists::list, super::lists::get,
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
        super::admin_plugins::set_limits,
    ),
    modifiers(&BearerKeys)
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
