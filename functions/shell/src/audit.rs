//! `POST /internal/shellhorse/git_audit_event` (`API::Internal::Shellhorse`): GitLab Shell
//! reports a git command when `/allowed` asked for an audit (`need_audit`). Only the status
//! matters to the client.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use gl_http::{ApiError, Params, ShellRequest};

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
fn validate(params: &Params) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    for name in ["action", "protocol", "gl_repository", "changes"] {
        match params.get(name) {
            None => errors.push(format!("{name} is missing")),
            Some(Value::String(_) | Value::Number(_)) => {}
            Some(_) => errors.push(format!("{name} is invalid")),
        }
    }
    match params.get("packfile_stats") {
        None | Some(Value::Null) => {}
        Some(Value::Object(stats)) => {
            for name in ["wants", "haves"] {
                let value = stats.get(name).filter(|v| !v.is_null());
                let integer = |v: &Value| {
                    v.as_i64().is_some()
                        || v.as_str().is_some_and(|s| s.trim().parse::<i64>().is_ok())
                };
                if value.is_some_and(|v| !integer(v)) {
                    errors.push(format!("packfile_stats[{name}] is invalid"));
                }
            }
        }
        Some(_) => errors.push("packfile_stats is invalid".to_owned()),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Custom {
            status: StatusCode::BAD_REQUEST,
            body: json!({"error": errors.join(", ")}),
        })
    }
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
    validate(&params)?;
    let action = params.text("action").unwrap_or_default();
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
