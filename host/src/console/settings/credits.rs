//! Credits on the settings page: the balance and the ledger, newest first
//! in keyset pages (an administrator tops credits up through the API).

use maud::{Markup, html};

use super::super::campaigns::local;
use super::Paging;
use crate::api::{ApiError, AppState};
use crate::store::Tenant;

/// Ledger rows a page shows.
const PAGE: i64 = 20;

pub async fn section(
    state: &AppState,
    tenant: &Tenant,
    paging: &Paging,
) -> Result<Markup, ApiError> {
    let balance = state.store.credit_balance(tenant.id).await?;
    let mut ledger = state
        .store
        .credit_ledger(tenant.id, paging.ledger_before, PAGE + 1)
        .await?;
    let older = if ledger.len() as i64 > PAGE {
        ledger.truncate(PAGE as usize);
        ledger.last().map(|e| e.id)
    } else {
        None
    };
    Ok(html! {
        section #credits {
            h2 { "Credits" }
            @if balance.metered {
                div.summary {
                    div.stat { span.figure #credits-available { (balance.available) } span { "available" } }
                    div.stat { span.figure { (balance.reserved) } span { "held for sends in flight" } }
                    div.stat { span.figure { (balance.charged) } span { "spent" } }
                }
            } @else {
                div.card #credits-available { strong { "Unlimited." } " No credits are configured for this account, so sending is not metered." }
            }
            @if ledger.is_empty() {
                div.empty { p { "No credit movements yet. Top-ups from your administrator and charges for sends appear here." } }
            } @else {
                table #ledger {
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "What" } th scope="col" { "Amount" }
                        th scope="col" { "Balance" } th.hide-narrow scope="col" { "Detail" }
                    } }
                    tbody {
                        @for e in &ledger {
                            tr {
                                td { (local(e.at, tenant)) }
                                td { (e.kind.replace('_', " ")) }
                                td.num { @if e.amount > 0 { "+" } (e.amount) }
                                td.num { (e.balance_after) }
                                td.hide-narrow.muted {
                                    @if let Some(c) = e.campaign_id { a href={ "/campaigns/" (c) } { "campaign " (c) } }
                                    @if let Some(m) = e.messages { " · " (m) " messages" }
                                    @if let Some(n) = &e.note { " " (n) }
                                }
                            }
                        }
                    }
                }
                nav.pager aria-label="Ledger pages" {
                    @if paging.ledger_before.is_some() { a href="/settings#credits" { "← Newest" } }
                    @if let Some(id) = older { a href={ "/settings?ledger_before=" (id) "#credits" } { "Older →" } }
                }
            }
        }
    })
}
