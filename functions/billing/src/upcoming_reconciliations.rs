//! `PUT` and `DELETE /api/v4/internal/upcoming_reconciliations`: when CustomersDot next
//! reconciles a namespace's seats, and from when GitLab shows the alert
//! (`ee/lib/api/internal/upcoming_reconciliations.rb`). Under `/internal`, but authenticated
//! as the billing endpoints are, not with GitLab Shell's JWT.
//!
//! Checks in this order: the GitLab.com gate (403, before authentication, so an
//! unauthenticated call learns only that), authentication (401/403), the parameters (400),
//! then every item's validation (400, nothing stored).

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use gl_http::billing::{Serve, authenticate_billing_gated};
use gl_http::grape::{Date, Integer, JsonArray, Type};
use gl_http::{ApiError, AppState, Declared, Params};
use gl_model::{NamespaceId, Settings, UpcomingReconciliation};

/// `forbidden!('This API is gitlab.com only!') unless should_check_namespace_plan?`.
fn gitlab_com_only(settings: &Settings) -> Result<(), ApiError> {
    if settings.gitlab_com {
        Ok(())
    } else {
        Err(ApiError::Forbidden(Some(
            "This API is gitlab.com only!".to_owned(),
        )))
    }
}

/// The namespaces a request names, read before its parameters are validated so that the
/// read rides along authentication.
fn named_namespaces(params: &Params) -> Vec<NamespaceId> {
    let items = match params.get("upcoming_reconciliations") {
        Some(serde_json::Value::Array(items)) => items.as_slice(),
        Some(item @ serde_json::Value::Object(_)) => std::slice::from_ref(item),
        _ => &[],
    };
    items
        .iter()
        .filter_map(|item| Integer.coerce(item.get("namespace_id")?).ok())
        .collect()
}

/// 200 with the body `200` once every reconciliation is stored over its namespace's last
/// one. An item whose namespace does not exist fails validation (on GitLab.com a
/// reconciliation must have a namespace); any failure is 400 with every failing item's
/// errors, JSON-encoded as GitLab's update service encodes them, and nothing is stored. Two
/// items for one namespace: the last one counts.
pub async fn update(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let repo = &state.repo;
    let named = named_namespaces(&params);
    let (_caller, existing) = authenticate_billing_gated(
        Some(gitlab_com_only),
        Serve::Admins,
        &state,
        &method,
        &headers,
        &params,
        repo.billing().existing_namespaces(&named),
        |existing| async { Ok(existing) },
    )
    .await?;

    let mut declared = Declared::new(&params);
    let items = declared
        .requires_array("upcoming_reconciliations", JsonArray, |item| {
            (
                item.requires("namespace_id", Integer.not_blank()),
                item.requires("next_reconciliation_date", Date),
                item.requires("display_alert_from", Date),
            )
        })
        .flatten();
    let items = declared.finish(items)?;

    let errors: Vec<serde_json::Value> = items
        .iter()
        .filter(|(namespace_id, ..)| !existing.contains(namespace_id))
        .map(|(namespace_id, ..)| {
            serde_json::json!({ namespace_id.to_string(): ["Namespace can't be blank"] })
        })
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::MessageError {
            status: StatusCode::BAD_REQUEST,
            error: serde_json::Value::from(errors).to_string(),
        });
    }

    let updated_at = gl_model::gitlab_timestamp(Utc::now());
    let mut seen = HashSet::new();
    let mut reconciliations: Vec<UpcomingReconciliation> = items
        .iter()
        .rev()
        .filter(|(namespace_id, ..)| seen.insert(*namespace_id))
        .map(
            |(namespace_id, next_reconciliation_date, display_alert_from)| UpcomingReconciliation {
                namespace_id: *namespace_id,
                next_reconciliation_date: *next_reconciliation_date,
                display_alert_from: *display_alert_from,
                updated_at: updated_at.clone(),
            },
        )
        .collect();
    reconciliations.reverse();
    repo.billing()
        .upsert_upcoming_reconciliations(&reconciliations)
        .await?;
    Ok((StatusCode::OK, Json(200)).into_response())
}

/// 204 once the namespace's upcoming reconciliation is gone; none is `404 Not Found`.
pub async fn destroy(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let repo = &state.repo;
    authenticate_billing_gated(
        Some(gitlab_com_only),
        Serve::Admins,
        &state,
        &method,
        &headers,
        &params,
        async { Ok(()) },
        |()| async { Ok(()) },
    )
    .await?;

    let mut declared = Declared::new(&params);
    let namespace_id = declared.requires("namespace_id", Integer.not_blank());
    let namespace_id = declared.finish(namespace_id)?;
    if repo
        .billing()
        .delete_upcoming_reconciliation(namespace_id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound(None))
    }
}
