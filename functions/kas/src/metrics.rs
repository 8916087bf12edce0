//! `POST /internal/kubernetes/usage_metrics` and `agent_events`: KAS's periodic usage reports.
//! Totals are kept with atomic adds and unique counters as sets, so concurrent reports never
//! lose each other's counts.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value};

use gl_http::{ApiError, AppState, KasRequest, Params};
use gl_store::repo::kas::UsageReport;

use crate::grape::{integer, invalid_params};

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

/// Grape's validation failure: every offending parameter, joined, in one 400.
fn invalid(paths: &[String]) -> ApiError {
    let errors: Vec<String> = paths
        .iter()
        .map(|path| format!("{path} is invalid"))
        .collect();
    invalid_params(&errors)
}

/// A `Hash` parameter; anything else is recorded as invalid.
fn object<'a>(
    params: &'a Params,
    name: &str,
    errors: &mut Vec<String>,
) -> Option<&'a Map<String, Value>> {
    match params.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map),
        Some(_) => {
            errors.push(name.to_owned());
            None
        }
    }
}

/// Counters must be integers and unique counters integer arrays (400 otherwise, naming the
/// member as Grape does); a negative count is refused with the counter's message. Zero counts
/// and empty lists record nothing. Success is 204.
pub async fn usage_metrics(
    _: KasRequest,
    State(state): State<AppState>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let mut errors = Vec::new();
    let mut counters = Vec::new();
    if let Some(map) = object(&params, "counters", &mut errors) {
        for name in COUNTERS {
            let Some(value) = map.get(name).filter(|v| !v.is_null()) else {
                continue;
            };
            match integer(value) {
                Some(count) => counters.push((name.to_owned(), count)),
                None => errors.push(format!("counters[{name}]")),
            }
        }
    }
    let mut uniques = Vec::new();
    if let Some(map) = object(&params, "unique_counters", &mut errors) {
        for name in UNIQUE_COUNTERS {
            let Some(value) = map.get(name).filter(|v| !v.is_null()) else {
                continue;
            };
            match value
                .as_array()
                .and_then(|values| values.iter().map(integer).collect::<Option<Vec<i64>>>())
            {
                Some(ids) if !ids.is_empty() => uniques.push((name.to_owned(), ids)),
                Some(_) => {}
                None => errors.push(format!("unique_counters[{name}]")),
            }
        }
    }
    if !errors.is_empty() {
        return Err(invalid(&errors));
    }
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
    _: KasRequest,
    State(state): State<AppState>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let mut errors = Vec::new();
    let mut counters = Vec::new();
    let mut uniques = Vec::new();
    if let Some(map) = object(&params, "events", &mut errors) {
        for name in EVENTS {
            let Some(value) = map.get(name).filter(|v| !v.is_null()) else {
                continue;
            };
            let Some(entries) = value.as_array() else {
                errors.push(format!("events[{name}]"));
                continue;
            };
            let mut users = Vec::new();
            for (i, entry) in entries.iter().enumerate() {
                let Some(entry) = entry.as_object() else {
                    errors.push(format!("events[{name}][{i}]"));
                    continue;
                };
                for field in ["user_id", "project_id"] {
                    if let Some(id) = entry.get(field).filter(|v| !v.is_null()) {
                        match integer(id) {
                            Some(id) if field == "user_id" => users.push(id),
                            Some(_) => {}
                            None => errors.push(format!("events[{name}][{i}][{field}]")),
                        }
                    }
                }
            }
            if !entries.is_empty() {
                counters.push((name.to_owned(), entries.len() as i64));
            }
            if !users.is_empty() {
                uniques.push((format!("{name}_users"), users));
            }
        }
    }
    if !errors.is_empty() {
        return Err(invalid(&errors));
    }
    state
        .repo
        .kas()
        .record_usage(UsageReport::Events, &today(), counters, uniques)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
