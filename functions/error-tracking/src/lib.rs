//! `POST /api/v4/internal/error_tracking/allowed` (`API::Internal::ErrorTracking`): OpsTrace
//! asks whether a project's integrated error tracking accepts events for a DSN public key.

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;

use gl_http::state::secret_keys;
use gl_http::{ApiError, AppState, Params};

/// The header OpsTrace sends its access token in.
pub const TOKEN_HEADER: &str = "Gitlab-Error-Tracking-Token";

pub fn router(state: AppState) -> Router {
    gl_http::request_log::family(
        "error-tracking",
        Router::new()
            .route("/api/v4/internal/error_tracking/allowed", post(allowed))
            .with_state(state),
    )
}

/// How much body a request its headers and query do not authenticate may send: its token can
/// only be in the body then, and a caller not yet authenticated gets no more work than
/// reading that (OpsTrace's bodies are a few dozen bytes).
pub const UNAUTHENTICATED_BODY_BYTES: usize = 16 * 1024;

/// `error_tracking_token` (a parameter, in the query or the body) or else the
/// `Gitlab-Error-Tracking-Token` header, as GitLab's `input ||= headers[...]` reads them; one
/// trailing newline dropped, compared in constant time with the configured token. Without
/// either (or with no token configured) the GitLab Shell JWT, as the internal API document
/// describes. The inner `Err` says why, for the one log line of the decision that counts;
/// the outer one is a secret that cannot be read (503). During a rotation window the
/// previous token and secret are accepted too.
async fn credential(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Result<(), String>, ApiError> {
    let given = params
        .text("error_tracking_token")
        .map(String::into_bytes)
        .or_else(|| headers.get(TOKEN_HEADER).map(|v| v.as_bytes().to_vec()));
    if let (Some(expected), Some(given)) = (&state.error_tracking_token, given) {
        let given = gl_auth::shell_secret_from_file(&given);
        let matches = |expected: &Vec<u8>| {
            (!expected.is_empty() && gl_auth::secrets_equal(&given, expected))
                .then_some(())
                .ok_or(())
        };
        let keys = secret_keys(expected).await?;
        return Ok(keys
            .check(matches)
            .map_err(|()| "error tracking token rejected".to_owned()));
    }
    let Some(secret) = &state.shell_jwt else {
        return Ok(Err("no GitLab Shell secret configured".to_owned()));
    };
    let header = headers.get(gl_auth::SHELL_API_HEADER).map(|v| v.as_bytes());
    Ok(secret_keys(secret)
        .await?
        .check(|verifier| verifier.verify(header))
        .map_err(|reason| format!("GitLab Shell JWT rejected: {reason}")))
}

/// [`credential`] as the endpoint's answer: anything but a valid one is 401, before the
/// parameters are validated.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<(), ApiError> {
    credential(state, headers, params).await?.map_err(|reason| {
        gl_http::error::log_refusal("error tracking token or GitLab Shell JWT", &reason);
        ApiError::Unauthorized
    })
}

#[derive(Debug, Serialize)]
struct Enabled {
    enabled: bool,
}

/// Blank `project_id` or `public_key` is 422, an unknown project the record-not-found 404;
/// otherwise 200 with whether error tracking is on and an active key has that public key.
async fn allowed(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Enabled>, ApiError> {
    let headers = request.headers().clone();
    // Authentication before the body: what the headers and the query prove is judged first.
    // A request they do not authenticate may still carry its token in the body (GitLab reads
    // that parameter first), but may send only a small one.
    let query = Params::parse(request.uri().query(), None, &[])?;
    let limit = if credential(&state, &headers, &query).await?.is_ok() {
        gl_http::MAX_BODY_BYTES
    } else {
        UNAUTHENTICATED_BODY_BYTES
    };
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let content_type = parts
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let params = Params::parse(parts.uri.query(), content_type, &bytes)?;
    authenticate(&state, &headers, &params).await?;
    let project_id = params.text("project_id").filter(|v| !v.trim().is_empty());
    let public_key = params.text("public_key").filter(|v| !v.trim().is_empty());
    let (Some(project_id), Some(public_key)) = (project_id, public_key) else {
        return Err(ApiError::UnprocessableEntity);
    };
    let project_id: i64 = project_id
        .trim()
        .parse()
        .map_err(|_| ApiError::RecordNotFound)?;
    let (project, key) = state
        .repo
        .error_tracking()
        .client_key(project_id, &public_key)
        .await?;
    let project = project.ok_or(ApiError::RecordNotFound)?;
    let enabled = project.error_tracking_enabled
        && key.is_some_and(|key| key.active && key.public_key == public_key);
    Ok(Json(Enabled { enabled }))
}
