//! `POST /internal/shellhorse/git_audit_event`: GitLab Shell reports a git command when
//! `/allowed` asked for an audit (`need_audit`). Only the status matters to the client.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use gl_http::{ApiError, ShellRequest};

use crate::ShellState;
use crate::params::InternalParams;

/// Keeps the event (action, protocol, repository, user, key, changes, packfile stats) under its
/// repository. `gl_repository` and `action` are required, as the event means nothing without.
pub async fn git_audit_event(
    _: ShellRequest,
    State(state): State<ShellState>,
    InternalParams(params): InternalParams,
) -> Result<Json<Value>, ApiError> {
    let gl_repository = params.require_text("gl_repository")?;
    params.require_text("action")?;
    let event = Value::Object(params.0.clone());
    state
        .app
        .repo
        .record_audit_event(&gl_repository, &event)
        .await?;
    Ok(Json(json!({})))
}
