//! `POST /api/v4/internal/error_tracking/allowed` (`API::Internal::ErrorTracking`): OpsTrace
//! asks whether a project's integrated error tracking accepts events for a DSN public key.

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;

use gl_http::{ApiError, AppState, Params, ShellRequest};

/// The header OpsTrace sends its access token in.
pub const TOKEN_HEADER: &str = "Gitlab-Error-Tracking-Token";

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v4/internal/error_tracking/allowed", post(allowed))
        .with_state(state)
}

/// `Gitlab-Error-Tracking-Token` (or the `error_tracking_token` parameter), one trailing newline
/// dropped, compared in constant time with the configured token; or the GitLab Shell JWT, as
/// the internal API document describes. Anything else is 401 before parameters are read.
#[derive(Debug)]
struct ErrorTrackingCaller;

impl FromRequestParts<AppState> for ErrorTrackingCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(TOKEN_HEADER)
            .map(|v| v.as_bytes().to_vec());
        let param = parts.uri.query().and_then(|query| {
            Params::parse(Some(query), None, b"")
                .ok()?
                .text("error_tracking_token")
                .map(String::into_bytes)
        });
        if let (Some(expected), Some(given)) = (&state.error_tracking_token, header.or(param)) {
            let given = gl_auth::shell_secret_from_file(&given);
            if !expected.is_empty() && gl_auth::secrets_equal(&given, expected) {
                return Ok(Self);
            }
            tracing::info!("error tracking token rejected");
            return Err(ApiError::Unauthorized);
        }
        ShellRequest::from_request_parts(parts, state)
            .await
            .map(|_| Self)
    }
}

#[derive(Debug, Serialize)]
struct Enabled {
    enabled: bool,
}

/// Blank `project_id` or `public_key` is 422, an unknown project the record-not-found 404;
/// otherwise 200 with whether error tracking is on and an active key has that public key.
async fn allowed(
    _: ErrorTrackingCaller,
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<Enabled>, ApiError> {
    let project_id = params.text("project_id").filter(|v| !v.trim().is_empty());
    let public_key = params.text("public_key").filter(|v| !v.trim().is_empty());
    let (Some(project_id), Some(public_key)) = (project_id, public_key) else {
        return Err(ApiError::Custom {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: json!({"message": "422 Unprocessable Entity"}),
        });
    };
    let not_found = || ApiError::Custom {
        status: StatusCode::NOT_FOUND,
        body: json!({"message": "404 Not found"}),
    };
    let project_id: i64 = project_id.trim().parse().map_err(|_| not_found())?;
    let (project, key) = state
        .repo
        .error_tracking_key(project_id, &public_key)
        .await?;
    let project = project.ok_or_else(not_found)?;
    let enabled = project.error_tracking_enabled
        && key.is_some_and(|key| key.active && key.public_key == public_key);
    Ok(Json(Enabled { enabled }))
}
