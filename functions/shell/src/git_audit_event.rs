//! `POST /internal/shellhorse/git_audit_event` (`API::Internal::Shellhorse`): GitLab Shell
//! reports a git command when `/allowed` asked for an audit (`need_audit`). Only the status
//! matters to the client.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use gl_http::error::StatusMessage;
use gl_http::grape::{Hash, Integer, Text};
use gl_http::{ApiError, Declared, Params, ShellJwtVerified};

use crate::ShellState;
use crate::allowed::access_check_result;
use crate::gitaly_client_context::InternalParams;

/// `COMMANDS_TO_AUDIT`: archives are never audited.
const COMMANDS_TO_AUDIT: [&str; 2] = ["git-upload-pack", "git-receive-pack"];

/// Grape's declared parameters: `action`, `protocol`, `gl_repository` and `changes` are
/// required strings; `packfile_stats` an optional hash of integer `wants` and `haves`.
/// Answers the action.
fn validate(params: &Params) -> Result<String, ApiError> {
    let mut declared = Declared::new(params);
    let action = declared.requires("action", Text);
    for name in ["protocol", "gl_repository", "changes"] {
        declared.requires(name, Text);
    }
    declared.optional_hash("packfile_stats", Hash, |stats| {
        stats.optional("wants", Integer);
        stats.optional("haves", Integer);
    });
    declared.finish(action)
}

/// GitLab's order: parameters; an action that is not audited (400); the same access check as
/// `/allowed`, whose denial is returned as it is; then, since `/allowed` never asks for an
/// audit here (`need_audit` is false: no streaming audit destinations), "No git audit event
/// needed".
pub async fn git_audit_event(
    _: ShellJwtVerified,
    State(state): State<ShellState>,
    InternalParams(params): InternalParams,
) -> Result<Json<StatusMessage>, ApiError> {
    let action = validate(&params)?;
    if !COMMANDS_TO_AUDIT.contains(&action.as_str()) {
        return Err(ApiError::denied(
            StatusCode::BAD_REQUEST,
            "No valid action specified",
        ));
    }
    // A denial answers as `/allowed` answers it; a grant asks for no audit.
    let _granted = access_check_result(&state, &params).await?;
    Ok(Json(StatusMessage {
        status: false,
        message: "No git audit event needed".to_owned(),
    }))
}
