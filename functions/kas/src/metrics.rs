//! `POST /internal/kubernetes/usage_metrics` and `agent_events`: KAS's periodic usage reports.
//! Totals are kept with atomic adds and unique counters as sets, so concurrent reports never
//! lose each other's counts.

use axum::extract::State;
use axum::http::StatusCode;
use gl_http::grape::{Array, Hash, Integer};
use gl_http::{ApiError, AppState, Declared, KasJwtVerified, Params};
use gl_store::repo::kas::UsageReport;

/// The counters GitLab knows; others are ignored so that a newer KAS keeps working.
pub const COUNTERS: [&str; 5] = [
    "k8s_api_proxy_request",
    "flux_git_push_notifications_total",
    "k8s_api_proxy_requests_via_ci_access",
    "k8s_api_proxy_requests_via_user_access",
    "k8s_api_proxy_requests_via_pat_access",
];

pub const UNIQUE_COUNTERS: [&str; 7] = [
    "k8s_api_proxy_requests_unique_users_via_ci_access",
    "k8s_api_proxy_requests_unique_agents_via_ci_access",
    "k8s_api_proxy_requests_unique_users_via_user_access",
    "k8s_api_proxy_requests_unique_agents_via_user_access",
    "k8s_api_proxy_requests_unique_users_via_pat_access",
    "k8s_api_proxy_requests_unique_agents_via_pat_access",
    "flux_git_push_notified_unique_projects",
];

pub const EVENTS: [&str; 4] = [
    "k8s_api_proxy_requests_unique_users_via_ci_access",
    "k8s_api_proxy_requests_unique_users_via_user_access",
    "k8s_api_proxy_requests_unique_users_via_pat_access",
    "register_agent_at_kas",
];

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

/// Counters must be integers and unique counters integer arrays (400 otherwise, naming the
/// member as Grape does); a negative count is refused with the counter's message. Zero counts
/// and empty lists record nothing. Success is 204.
pub async fn usage_metrics(
    _: KasJwtVerified,
    State(state): State<AppState>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let mut declared = Declared::new(&params);
    let counters = declared.optional_hash("counters", Hash, |counters| {
        COUNTERS
            .into_iter()
            .filter_map(|name| Some((name.to_owned(), counters.optional(name, Integer)?)))
            .collect::<Vec<_>>()
    });
    let uniques = declared.optional_hash("unique_counters", Hash, |uniques| {
        UNIQUE_COUNTERS
            .into_iter()
            .filter_map(|name| Some((name.to_owned(), uniques.optional(name, Array(Integer))?)))
            .filter(|(_, ids)| !ids.is_empty())
            .collect::<Vec<_>>()
    });
    declared.finish(())?;
    let mut counters = counters.unwrap_or_default();
    let uniques = uniques.unwrap_or_default();
    // Past validation, in the endpoint body: the counter's own ArgumentError.
    if let Some((name, _)) = counters.iter().find(|(_, count)| *count < 0) {
        return Err(ApiError::BadRequest(Some(format!(
            "{name} count must be greater than or equal to zero"
        ))));
    }
    counters.retain(|(_, count)| *count > 0);
    state
        .repo
        .kas()
        .record_usage(UsageReport::Metrics, &today(), counters, uniques)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

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
                let Some(entries) = events.optional_array(name, Array(Hash), |event| {
                    let user = event.optional("user_id", Integer);
                    event.optional("project_id", Integer);
                    user
                }) else {
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
