//! `POST /internal/kubernetes/agent_events`: KAS's periodic report of agent events. Totals
//! are kept with atomic adds and users as sets, so concurrent reports never lose each
//! other's counts.

use axum::extract::State;
use axum::http::StatusCode;
use gl_http::grape::{Array, Hash, Integer, Type};
use gl_http::{ApiError, AppState, Declared, KasJwtVerified, Params};
use gl_store::repo::kas::UsageReport;

use crate::usage_metrics::{MAX_REPORTED, today};

pub const EVENTS: [&str; 4] = [
    "k8s_api_proxy_requests_unique_users_via_ci_access",
    "k8s_api_proxy_requests_unique_users_via_user_access",
    "k8s_api_proxy_requests_unique_users_via_pat_access",
    "register_agent_at_kas",
];

/// `events`: per known event, a list of `{user_id, project_id}` (or, for
/// `register_agent_at_kas`, `{project_id, agent_version, architecture, ...}`). Ids must be
/// integers. Each event name counts its occurrences; user events also keep their users as a
/// unique set. 204.
pub async fn agent_events(
    _: KasJwtVerified,
    State(state): State<AppState>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let mut declared = Declared::new(&params);
    let (counters, uniques) = declared
        .optional_hash("events", Hash, |events| {
            let mut counters = Vec::new();
            let mut uniques = Vec::new();
            for name in EVENTS {
                let Some(entries) =
                    events.optional_array(name, Array(Hash).at_most(MAX_REPORTED), |event| {
                        let user = event.optional("user_id", Integer);
                        event.optional("project_id", Integer);
                        user
                    })
                else {
                    continue;
                };
                if !entries.is_empty() {
                    counters.push((name.to_owned(), entries.len() as i64));
                }
                let users: Vec<i64> = entries.into_iter().flatten().collect();
                if !users.is_empty() {
                    uniques.push((format!("{name}_users"), users));
                }
            }
            (counters, uniques)
        })
        .unwrap_or_default();
    declared.finish(())?;
    state
        .repo
        .kas()
        .record_usage(UsageReport::Events, &today(), counters, uniques)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
