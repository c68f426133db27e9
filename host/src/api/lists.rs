//! Contact lists and the contacts in them.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use super::json::ApiQuery;
use super::paging::{self, Page, PageQuery};
use crate::domain::import::looks_like_email;
use crate::domain::phone::E164;
use crate::store::{Contact, ContactList, Id, NewContact};

/// Contacts accepted in one request.
const MAX_CONTACTS_PER_REQUEST: usize = 10_000;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateList {
    pub name: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    /// E.164, e.g. `+14155550100`.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// IANA timezone, e.g. `Europe/Berlin`.
    pub timezone: Option<String>,
    /// Custom fields, usable as `{{name}}` in message bodies.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddContacts {
    pub contacts: Vec<ContactInput>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AddedContacts {
    /// Contacts added or updated, in request order.
    pub contact_ids: Vec<Id>,
}

#[utoipa::path(post, path = "/v1/lists", tag = "lists", request_body = CreateList,
    responses((status = 201, body = ContactList), (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiJson(req): ApiJson<CreateList>,
) -> ApiResult<(StatusCode, Json<ContactList>)> {
    Ok((
        StatusCode::CREATED,
        Json(create_list(&state, tenant.id, &req.name).await?),
    ))
}

/// Creates a list under a non-empty name. Shared by the API and the console.
pub(crate) async fn create_list(
    state: &AppState,
    tenant: Id,
    name: &str,
) -> ApiResult<ContactList> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    Ok(state.store.create_list(tenant, name).await?)
}

#[utoipa::path(get, path = "/v1/lists", tag = "lists", params(PageQuery),
    responses((status = 200, body = Page<ContactList>)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ContactList>>> {
    let all = state.store.lists(tenant.id).await?;
    Ok(Json(Page::of_all(all, &page, 1000, |l| l.id)?))
}

#[utoipa::path(get, path = "/v1/lists/{id}", tag = "lists",
    responses((status = 200, body = ContactList), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<Json<ContactList>> {
    Ok(Json(state.store.list(tenant.id, id).await?))
}

/// Deletes a list and its memberships (its contacts stay the tenant's).
/// Refused with 409 while a campaign uses the list or an import into it
/// is under way.
#[utoipa::path(delete, path = "/v1/lists/{id}", tag = "lists",
    responses((status = 204), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<StatusCode> {
    state.store.delete_list(tenant.id, id).await?;
    tracing::info!(tenant = tenant.id, list = id, "list deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/lists/{id}/contacts", tag = "lists", request_body = AddContacts,
    responses((status = 201, body = AddedContacts), (status = 422, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn add_contacts(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
    ApiJson(req): ApiJson<AddContacts>,
) -> ApiResult<(StatusCode, Json<AddedContacts>)> {
    let contacts = validate_contacts(req)?;
    let contact_ids = state.store.add_contacts(tenant.id, id, &contacts).await?;
    Ok((StatusCode::CREATED, Json(AddedContacts { contact_ids })))
}

/// Checks a request's contacts: not empty, not too many, each valid.
pub(super) fn validate_contacts(req: AddContacts) -> ApiResult<Vec<NewContact>> {
    if req.contacts.is_empty() {
        return Err(ApiError::invalid("contacts", "must not be empty"));
    }
    if req.contacts.len() > MAX_CONTACTS_PER_REQUEST {
        return Err(ApiError::invalid(
            "contacts",
            format!("at most {MAX_CONTACTS_PER_REQUEST} per request; use several requests"),
        ));
    }
    req.contacts
        .into_iter()
        .enumerate()
        .map(|(i, c)| validate_contact(&format!("contacts[{i}]"), c))
        .collect()
}

/// Checks one contact as every way in does (API, edit, enrolment).
/// `prefix` names it in errors, e.g. `contacts[3]`.
pub(crate) fn validate_contact(prefix: &str, c: ContactInput) -> ApiResult<NewContact> {
    let field = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        }
    };
    let phone = c
        .phone
        .as_deref()
        .map(|p| E164::parse(p.trim()))
        .transpose()
        .map_err(|e| {
            ApiError::invalid(
                &field("phone"),
                format!("{:?} {e}", c.phone.unwrap_or_default()),
            )
        })?;
    let email = c.email.as_deref().map(str::trim).map(str::to_lowercase);
    if let Some(email) = &email
        && !looks_like_email(email)
    {
        return Err(ApiError::invalid(
            &field("email"),
            format!("{email:?} is not an email address"),
        ));
    }
    if phone.is_none() && email.is_none() {
        return Err(ApiError::invalid(
            &field("phone"),
            "a contact needs a phone or an email",
        ));
    }
    Ok(NewContact {
        phone: phone.map(|p| p.to_string()),
        email,
        first_name: c.first_name,
        last_name: c.last_name,
        timezone: c
            .timezone
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty()),
        fields: c.fields,
    })
}

#[utoipa::path(get, path = "/v1/lists/{id}/contacts", tag = "lists",
    params(("id" = i64, Path, description = "List id"), PageQuery),
    responses((status = 200, body = Page<Contact>), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn contacts(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Contact>>> {
    let after = paging::id_cursor(page.cursor.as_deref())?.unwrap_or(0);
    // Default 100 a page, at most 1000.
    let limit = paging::limit(page.limit, 100, 1000);
    let contacts = state
        .store
        .list_contacts(tenant.id, id, after, limit + 1)
        .await?;
    Ok(Json(Page::from_rows(contacts, limit, |c| c.id.to_string())))
}

#[utoipa::path(delete, path = "/v1/lists/{id}/contacts/{contact}", tag = "lists",
    responses((status = 204), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn remove_contact(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path((list, contact)): Path<(Id, Id)>,
) -> ApiResult<StatusCode> {
    state
        .store
        .remove_from_list(tenant.id, list, contact)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/contacts/{id}", tag = "contacts",
    responses((status = 200, body = Contact), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn get_contact(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<Json<Contact>> {
    Ok(Json(state.store.contact(tenant.id, id).await?))
}

/// Replaces a contact's values, validated as when it was added.
#[utoipa::path(patch, path = "/v1/contacts/{id}", tag = "contacts", request_body = ContactInput,
    responses((status = 200, body = Contact), (status = 409, body = super::error::ErrorBody),
        (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn update_contact(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
    ApiJson(req): ApiJson<ContactInput>,
) -> ApiResult<Json<Contact>> {
    Ok(Json(save_contact(&state, tenant.id, id, req).await?))
}

/// Replaces a contact's values after the checks every way in does.
/// Shared by the API and the console.
pub(crate) async fn save_contact(
    state: &AppState,
    tenant: Id,
    id: Id,
    input: ContactInput,
) -> ApiResult<Contact> {
    let contact = validate_contact("", input)?;
    Ok(state.store.update_contact(tenant, id, &contact).await?)
}

#[utoipa::path(delete, path = "/v1/contacts/{id}", tag = "contacts",
    responses((status = 204), (status = 409, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn delete_contact(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<StatusCode> {
    state.store.delete_contact(tenant.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
