//! `GET /internal/check`: GitLab's health answer for GitLab Shell's `check`, Gitaly and Geo.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use gl_http::{AppState, ShellJwtVerified};

use crate::gitaly_client_context::InternalParams;

#[derive(Debug, Serialize)]
pub struct CheckResponse {
    api_version: &'static str,
    gitlab_version: String,
    gitlab_rev: String,
    /// GitLab pings its shared-state Redis here; our shared state is the store, so this says
    /// whether the store answers. A failure is `false`, never an error status.
    redis: bool,
}

/// The `gitaly_client_context_bin` hook runs here too, as on every internal endpoint.
pub async fn check(
    _: ShellJwtVerified,
    State(state): State<AppState>,
    _: InternalParams,
) -> Json<CheckResponse> {
    let redis = match state.repo.ping().await {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(error = %err, "store ping failed");
            false
        }
    };
    Json(CheckResponse {
        api_version: "v4",
        gitlab_version: state.instance.gitlab_version.clone(),
        gitlab_rev: state.instance.gitlab_rev.clone(),
        redis,
    })
}
