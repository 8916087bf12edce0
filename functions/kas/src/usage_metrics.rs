//! `POST /internal/kubernetes/usage_metrics`: KAS's periodic usage report.
//! Totals are kept with atomic adds and unique counters as sets, so concurrent reports never
//! lose each other's counts.

use axum::extract::State;
use axum::http::StatusCode;
use gl_http::grape::{Array, Hash, Integer, Type};
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

/// The most ids one unique counter, or one event name, may carry in a report: KAS reports
/// every few seconds, so a real report holds far fewer; the cap bounds what one request can
/// make the function parse and store.
pub const MAX_REPORTED: usize = 50_000;

pub(crate) fn today() -> String {
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
            .filter_map(|name| {
                Some((
                    name.to_owned(),
                    uniques.optional(name, Array(Integer).at_most(MAX_REPORTED))?,
                ))
            })
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
