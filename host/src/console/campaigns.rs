//! The campaign grid (seed 000: filters, badges, progress, paging, live
//! updates) and a campaign's page (its allowed actions and its members).
//! Rows come from the same store calls as the API's; actions go through
//! the API's own lifecycle function, so no rule lives here.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Json, Redirect, Response};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use super::layout::{page, progress, status_badge, type_badge};
use super::session::Signed;
use crate::api::AppState;
use crate::domain::lifecycle::Action;
use crate::domain::member::MemberStatus;
use crate::store::{CampaignFilter, CampaignListPage, Id, MemberFilter, PageAt, Tenant};

const PAGE_SIZE: i64 = 25;
const MEMBERS_PAGE: i64 = 100;

#[derive(Deserialize, Default)]
pub struct GridQuery {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    name: String,
    page: Option<i64>,
}

impl GridQuery {
    fn filter(&self) -> CampaignFilter {
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        CampaignFilter {
            kind: some(&self.kind),
            status: some(&self.status),
            name: some(&self.name),
            tag: None,
        }
    }

    fn page(&self) -> i64 {
        self.page.unwrap_or(1).max(1)
    }

    fn link(&self, page: i64) -> String {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("type", &self.kind)
            .append_pair("status", &self.status)
            .append_pair("name", &self.name)
            .append_pair("page", &page.to_string())
            .finish();
        format!("/campaigns?{q}")
    }
}

/// An instant in the tenant's timezone, as people read it.
pub fn local(ms: i64, tenant: &Tenant) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .ok()
        .and_then(|t| t.in_tz(&tenant.timezone).ok())
        .map(|z| z.strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

async fn rows(
    state: &AppState,
    tenant: &Tenant,
    q: &GridQuery,
) -> Result<CampaignListPage, crate::api::ApiError> {
    Ok(state
        .store
        .list_campaigns(tenant.id, &q.filter(), PageAt::Page(q.page()), PAGE_SIZE)
        .await?)
}

pub async fn grid(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<GridQuery>,
) -> Response {
    let tenant = match signed.tenant_page() {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let listed = match rows(&state, tenant, &q).await {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let pages = (listed.total + PAGE_SIZE - 1) / PAGE_SIZE;
    let statuses = [
        "draft",
        "scheduled",
        "running",
        "paused",
        "retrying",
        "pending",
        "stopped",
        "completed",
        "cancelled",
        "archived",
    ];
    let body = html! {
        div.page-head { h1 { "Campaigns" } a.button #new-campaign href="/campaigns/new" { "New campaign" } }
        form.filters method="get" action="/campaigns" role="search" {
            label { "Type"
                select name="type" {
                    option value="" { "Any" }
                    @for (v, l) in [("sms", "SMS"), ("whatsapp", "WhatsApp"), ("voice", "Voice"), ("email", "Email")] {
                        option value=(v) selected[q.kind == v] { (l) }
                    }
                }
            }
            label { "Status"
                select name="status" {
                    option value="" { "Any" }
                    @for s in statuses { option value=(s) selected[q.status == s] { (s) } }
                }
            }
            label { "Name" input type="search" name="name" value=(q.name); }
            button type="submit" { "Filter" }
        }
        @if listed.items.is_empty() {
            div.empty {
                @if q.filter().kind.is_some() || q.filter().status.is_some() || q.filter().name.is_some() {
                    p { "No campaign matches these filters." }
                    a href="/campaigns" { "Show every campaign" }
                } @else {
                    p { "No campaigns yet. " a href="/campaigns/new" { "Create your first campaign" } " (or use " code { "POST /v1/campaigns" } ")." }
                }
            }
        } @else {
            table #grid {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Type" } th scope="col" { "Status" }
                    th.hide-narrow scope="col" { "List" } th.hide-narrow scope="col" { "Channel" }
                    th scope="col" { "Progress" } th.hide-narrow scope="col" { "Scheduled" }
                    th.hide-narrow scope="col" { "Created" }
                } }
                tbody {
                    @for row in &listed.items {
                        @let c = &row.campaign;
                        tr data-id=(c.id) {
                            td { a href={ "/campaigns/" (c.id) } { (c.name) } }
                            td { (type_badge(c.kind.as_str())) }
                            td.status { (status_badge(c.status.as_str())) }
                            td.hide-narrow { (row.list_name.clone().unwrap_or_default()) }
                            td.hide-narrow { (row.channel_name.clone().unwrap_or_default()) }
                            td.progress { (progress(row.sent, row.target, row.percent)) }
                            td.hide-narrow { (c.scheduled_at_ms.map(|ms| local(ms, tenant)).unwrap_or_else(|| "—".into())) }
                            td.hide-narrow { (local(c.created_at, tenant)) }
                        }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                @if q.page() > 1 { a href=(q.link(q.page() - 1)) { "← Previous" } }
                span.muted { "Page " (q.page()) " of " (pages.max(1)) " · " (listed.total) " campaigns" }
                @if q.page() < pages { a href=(q.link(q.page() + 1)) { "Next →" } }
            }
            (live_script(&q))
        }
    };
    Html(page("Campaigns", &signed, body).into_string()).into_response()
}

/// Polls the rows shown every 3 s and updates their status and progress.
fn live_script(q: &GridQuery) -> Markup {
    let url = q
        .link(q.page())
        .replacen("/campaigns?", "/campaigns/live?", 1);
    html! {
        script {
            (maud::PreEscaped(format!(r#"
(function () {{
  async function refresh() {{
    try {{
      const r = await fetch({url:?}, {{ credentials: "same-origin" }});
      if (!r.ok) return;
      for (const row of await r.json()) {{
        const tr = document.querySelector('#grid tr[data-id="' + row.id + '"]');
        if (!tr) continue;
        tr.querySelector('td.status').innerHTML = row.status_html;
        tr.querySelector('td.progress').innerHTML = row.progress_html;
      }}
    }} catch (e) {{}}
  }}
  setInterval(refresh, 3000);
}})();
"#)))
        }
    }
}

#[derive(Serialize)]
pub struct LiveRow {
    id: Id,
    status: &'static str,
    sent: i64,
    target: i64,
    status_html: String,
    progress_html: String,
}

/// The grid's rows as they are now (the live updates' source).
pub async fn live(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<GridQuery>,
) -> Response {
    let tenant = match signed.tenant_page() {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match rows(&state, tenant, &q).await {
        Ok(listed) => Json(
            listed
                .items
                .iter()
                .map(|row| LiveRow {
                    id: row.campaign.id,
                    status: row.campaign.status.as_str(),
                    sent: row.sent,
                    target: row.target,
                    status_html: status_badge(row.campaign.status.as_str()).into_string(),
                    progress_html: progress(row.sent, row.target, row.percent).into_string(),
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize, Default)]
pub struct MembersQuery {
    /// A member status (`delivered`, `failed`...); empty: all.
    #[serde(default)]
    status: String,
    /// The last member id of the previous page.
    after: Option<Id>,
}

/// Member statuses the filter offers.
const MEMBER_STATUSES: [&str; 8] = [
    "queued",
    "sending",
    "sent",
    "delivered",
    "failed",
    "unknown",
    "disqualified",
    "cancelled",
];

pub async fn detail(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<Id>,
    Query(mq): Query<MembersQuery>,
) -> Response {
    let tenant = match signed.tenant_page() {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let filter = MemberFilter {
        status: MemberStatus::parse(mq.status.trim()),
        ..MemberFilter::default()
    };
    let loaded = async {
        let campaign = state.store.campaign(tenant.id, id).await?;
        let progress = state.store.progress(tenant.id, id).await?;
        // Keyset pages: as fast on the last page of 100,000 as the first.
        let members = state
            .store
            .members(
                tenant.id,
                id,
                &filter,
                mq.after.unwrap_or(0),
                MEMBERS_PAGE + 1,
            )
            .await?;
        Ok::<_, crate::store::StoreError>((campaign, progress, members))
    };
    let (campaign, counts, mut members) = match loaded.await {
        Ok(l) => l,
        Err(crate::store::StoreError::NotFound) => return super::not_found(&signed),
        Err(e) => return crate::api::ApiError::from(e).into_response(),
    };
    let next_after = if members.len() as i64 > MEMBERS_PAGE {
        members.truncate(MEMBERS_PAGE as usize);
        members.last().map(|m| m.id)
    } else {
        None
    };
    let body = html! {
        p { a href="/campaigns" { "← Campaigns" } }
        h1 { (campaign.name) " " (type_badge(campaign.kind.as_str())) " " (status_badge(campaign.status.as_str())) }
        @if let Some(reason) = &campaign.status_reason { p.muted { (reason) } }
        (super::performance::tabs(&campaign, "members"))
        div.card {
            (progress(counts.sent, counts.target, counts.percent_done))
            p.muted { (counts.delivered) " delivered · " (counts.failed) " failed · " (counts.replied) " replied" }
        }
        div.actions {
            @for action in campaign.allowed_actions.iter().copied().chain(["duplicate"]) {
                @if let Some((label, destructive)) = action_label(action) {
                    form.inline method="post" action={ "/campaigns/" (campaign.id) "/act" }
                        onsubmit=[destructive.then(|| format!("return confirm('{label} this campaign?')"))] {
                        input type="hidden" name="csrf" value=(signed.csrf);
                        input type="hidden" name="action" value=(action);
                        button class=[destructive.then_some("danger")] type="submit" { (label) }
                    }
                }
            }
        }
        h2 { "Members" }
        form.filters method="get" action={ "/campaigns/" (campaign.id) } {
            label { "Status"
                select name="status" {
                    option value="" { "Any" }
                    @for st in MEMBER_STATUSES { option value=(st) selected[mq.status == st] { (st) } }
                }
            }
            button type="submit" { "Filter" }
        }
        @if members.is_empty() {
            div.empty {
                @if filter.status.is_some() {
                    p { "No member has this status." }
                    a href={ "/campaigns/" (campaign.id) } { "Show every member" }
                } @else {
                    p { "No members yet: the list's contacts are enrolled when the campaign goes live." }
                }
            }
        } @else {
            table #members {
                thead { tr {
                    th scope="col" { "Address" } th scope="col" { "Status" } th scope="col" { "Attempts" }
                    th.hide-narrow scope="col" { "Sent" } th.hide-narrow scope="col" { "Delivered" }
                    th.hide-narrow scope="col" { "Error" }
                } }
                tbody {
                    @for m in &members {
                        tr data-member=(m.id) {
                            td { a href={ "/campaigns/" (campaign.id) "/members/" (m.id) } { (m.address) } }
                            td title=(m.display_status) { (m.status.as_str()) }
                            td { (m.attempts) }
                            td.hide-narrow { (m.sent_at.map(|t| local(t, tenant)).unwrap_or_default()) }
                            td.hide-narrow { (m.delivered_at.map(|t| local(t, tenant)).unwrap_or_default()) }
                            td.hide-narrow { (m.error_code.clone().unwrap_or_default()) }
                        }
                    }
                }
            }
            @if let Some(last) = next_after {
                nav.pager aria-label="Member pages" {
                    a href={ "/campaigns/" (campaign.id) "?status=" (mq.status) "&after=" (last) } { "Next " (MEMBERS_PAGE) " →" }
                }
            }
        }
    };
    Html(page(&campaign.name, &signed, body).into_string()).into_response()
}

/// The actions the console offers: name (as `allowed_actions` says it),
/// the lifecycle action, the button, and whether it asks first.
const ACTIONS: [(&str, Action, &str, bool); 8] = [
    ("go_live", Action::GoLive, "Go live", false),
    ("pause", Action::Pause, "Pause", false),
    ("resume", Action::Resume, "Resume", false),
    ("cancel", Action::Cancel, "Cancel", true),
    ("archive", Action::Archive, "Archive", true),
    ("retry_failed", Action::RetryFailed, "Retry failed", false),
    // Answered by the store directly (see `act`): a copy, or nothing left.
    ("duplicate", Action::Edit, "Duplicate", false),
    ("delete", Action::Delete, "Delete", true),
];

/// The button of an allowed action, and whether it asks first.
fn action_label(action: &str) -> Option<(&'static str, bool)> {
    ACTIONS
        .iter()
        .find(|(name, ..)| *name == action)
        .map(|(_, _, label, destructive)| (*label, *destructive))
}

#[derive(Deserialize)]
pub struct ActForm {
    #[serde(default)]
    csrf: String,
    action: String,
}

pub async fn act(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<Id>,
    Form(f): Form<ActForm>,
) -> Response {
    let tenant = match signed.tenant_post(&f.csrf) {
        Ok(t) => t.clone(),
        Err(r) => return *r,
    };
    match f.action.as_str() {
        "duplicate" => {
            return match state.store.duplicate_campaign(tenant.id, id).await {
                Ok(copy) => Redirect::to(&format!("/campaigns/{}", copy.id)).into_response(),
                Err(e) => crate::api::ApiError::from(e).into_response(),
            };
        }
        "delete" => {
            return match state
                .store
                .transition_campaign(tenant.id, id, Action::Delete, None)
                .await
            {
                Ok(_) => Redirect::to("/campaigns").into_response(),
                Err(e) => crate::api::ApiError::from(e).into_response(),
            };
        }
        _ => {}
    }
    let Some(&(_, action, ..)) = ACTIONS.iter().find(|(name, ..)| *name == f.action) else {
        return crate::api::ApiError::invalid("action", "not a campaign action").into_response();
    };
    match crate::api::campaign_ops::act(&state, &tenant, id, action).await {
        Ok(_) => Redirect::to(&format!("/campaigns/{id}")).into_response(),
        Err(e) => e.into_response(),
    }
}
