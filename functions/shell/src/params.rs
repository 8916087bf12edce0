//! Parameters of the internal API, with the `before` hook GitLab runs on every endpoint of
//! `API::Internal::Base` after authentication: `gitaly_client_context_bin`, when given, must be
//! base64 of a JSON object, and a `scoped-user-id` in it must name an existing user.

use axum::extract::{FromRequest, Request};
use base64::Engine as _;
use serde_json::{Value, json};

use gl_http::{ApiError, Params};

use crate::ShellState;

/// [`Params`] that passed the `gitaly_client_context_bin` hook.
#[derive(Debug, Clone)]
pub struct InternalParams(pub Params);

impl FromRequest<ShellState> for InternalParams {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &ShellState) -> Result<Self, Self::Rejection> {
        let params = Params::from_request(request, state).await?;
        check_gitaly_client_context(&params, state).await?;
        Ok(Self(params))
    }
}

async fn check_gitaly_client_context(params: &Params, state: &ShellState) -> Result<(), ApiError> {
    let Some(encoded) = params.text("gitaly_client_context_bin") else {
        return Ok(());
    };
    let malformed = || ApiError::BadRequest(Some("malformed gitaly_client_context_bin".to_owned()));
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed())?;
    let context: Value = serde_json::from_slice(&decoded).map_err(|_| malformed())?;
    let Value::Object(context) = context else {
        return Err(ApiError::BadRequest(Some(
            "Decoded gitaly_client_context_bin is not a valid JSON object".to_owned(),
        )));
    };
    if let Some(scoped) = context.get("scoped-user-id").filter(|v| !v.is_null()) {
        let shown = match scoped {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let id = scoped
            .as_i64()
            .or_else(|| scoped.as_str().and_then(|s| s.parse().ok()));
        let found = match id {
            Some(id) => state.app.repo.user_by_id(id).await?,
            None => None,
        };
        if found.is_none() {
            // `not_found!("User ID #{id} not found")`: the resource-name quirk appends "Not Found".
            return Err(ApiError::Custom {
                status: axum::http::StatusCode::NOT_FOUND,
                body: json!({"message": format!("404 User ID {shown} not found Not Found")}),
            });
        }
    }
    Ok(())
}
