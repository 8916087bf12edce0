//! `POST /internal/shellhorse/git_audit_event` (`API::Internal::Shellhorse`): GitLab Shell
//! reports a git command when `/allowed` asked for an audit (`need_audit`). Only the status
//! matters to the client.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use gl_http::grape::{Hash, Integer, Text};
use gl_http::{ApiError, Declared, Params, ShellRequest};

use crate::ShellState;
use crate::allowed::access_check_result;
use crate::params::InternalParams;

/// `COMMANDS_TO_AUDIT`: archives are never audited.
const COMMANDS_TO_AUDIT: [&str; 2] = ["git-upload-pack", "git-receive-pack"];

/// `response_with_status` bodies, `{"status":...,"message":...}`.
#[derive(Debug, Serialize)]
struct Status<'a> {
    status: bool,
    message: &'a str,
}

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
    _: ShellRequest,
    State(state): State<ShellState>,
    InternalParams(params): InternalParams,
) -> Result<Response, ApiError> {
    let action = validate(&params)?;
    if !COMMANDS_TO_AUDIT.contains(&action.as_str()) {
        return Ok((
            StatusCode::BAD_REQUEST,
            Json(Status {
                status: false,
                message: "No valid action specified",
            }),
        )
            .into_response());
    }
    let check = access_check_result(&state, &params).await?;
    if check.status() != StatusCode::OK {
        return Ok(check);
    }
    Ok(Json(Status {
        status: false,
        message: "No git audit event needed",
    })
    .into_response())
}
