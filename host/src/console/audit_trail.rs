//! The console's changes in the audit log, as the API's are (the API
//! records them in a middleware around its routes; the console's routes
//! are not under it, so its handlers record what they changed).

use super::session::Signed;
use crate::api::AppState;

/// Records a change made from a console page (after it succeeded).
pub async fn record(state: &AppState, signed: &Signed, action: &str, target: &str) {
    let (tenant, who) = match signed.tenant() {
        Some(t) => (Some(t.id), "console session"),
        None => (None, "admin (console)"),
    };
    if let Err(e) = state.store.record_audit(tenant, who, action, target).await {
        // The change is made: say so loudly rather than answer an error.
        tracing::error!(error = %e, actor = who, action, target, "writing the audit log failed");
    }
}
