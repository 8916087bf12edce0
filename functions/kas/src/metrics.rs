//! `POST /internal/kubernetes/usage_metrics` and `agent_events`: KAS's periodic usage reports.
//! Totals are kept with atomic adds and unique counters as sets, so concurrent reports never
//! lose each other's counts.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value};

use gl_http::{ApiError, AppState, KasRequest, Params};
use gl_store::keys;

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

fn invalid(path: String) -> ApiError {
    ApiError::Custom {
        status: StatusCode::BAD_REQUEST,
        body: serde_json::json!({"error": format!("{path} is invalid")}),
    }
}

/// Grape's `Integer` coercion: JSON integers and integer strings.
fn integer(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

fn object<'a>(params: &'a Params, name: &str) -> Result<Option<&'a Map<String, Value>>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(invalid(name.to_owned())),
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
    let mut counters = Vec::new();
    if let Some(map) = object(&params, "counters")? {
        for name in COUNTERS {
            let Some(value) = map.get(name).filter(|v| !v.is_null()) else {
                continue;
            };
            let count = integer(value).ok_or_else(|| invalid(format!("counters[{name}]")))?;
            if count < 0 {
                return Err(ApiError::BadRequest(Some(format!(
                    "{name} count must be greater than or equal to zero"
                ))));
            }
            if count > 0 {
                counters.push((name.to_owned(), count));
            }
        }
    }
    let mut uniques = Vec::new();
    if let Some(map) = object(&params, "unique_counters")? {
        for name in UNIQUE_COUNTERS {
            let Some(value) = map.get(name).filter(|v| !v.is_null()) else {
                continue;
            };
            let ids = value
                .as_array()
                .and_then(|values| values.iter().map(integer).collect::<Option<Vec<i64>>>())
                .ok_or_else(|| invalid(format!("unique_counters[{name}]")))?;
            if !ids.is_empty() {
                uniques.push((name.to_owned(), ids));
            }
        }
    }
    state
        .repo
        .record_kas_metrics(keys::kas_usage_metrics(&today()), counters, uniques)
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
    let mut counters = Vec::new();
    let mut uniques = Vec::new();
    if let Some(map) = object(&params, "events")? {
        for name in EVENTS {
            let Some(value) = map.get(name).filter(|v| !v.is_null()) else {
                continue;
            };
            let entries = value
                .as_array()
                .ok_or_else(|| invalid(format!("events[{name}]")))?;
            let mut users = Vec::new();
            for (i, entry) in entries.iter().enumerate() {
                let entry = entry
                    .as_object()
                    .ok_or_else(|| invalid(format!("events[{name}][{i}]")))?;
                for field in ["user_id", "project_id"] {
                    if let Some(id) = entry.get(field).filter(|v| !v.is_null()) {
                        let id = integer(id)
                            .ok_or_else(|| invalid(format!("events[{name}][{i}][{field}]")))?;
                        if field == "user_id" {
                            users.push(id);
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
    state
        .repo
        .record_kas_metrics(keys::kas_agent_events(&today()), counters, uniques)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
