//! Parameters of the internal API, with the `before` hook GitLab runs on every endpoint of
//! `API::Internal::Base` after authentication: `gitaly_client_context_bin`, when given, must be
//! base64 of a JSON object, and a `scoped-user-id` in it must name an existing user.

use axum::extract::{FromRequest, Request};
use serde_json::Value;

use gl_http::{ApiError, Params};
use gl_model::ruby;

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
    if let Some(id) = scoped_user_id(&encoded)?
        && state.app.repo.identity().user_by_id(id).await?.is_none()
    {
        // `not_found!("User ID #{id} not found")`: the resource-name quirk appends "Not Found".
        return Err(ApiError::message(
            axum::http::StatusCode::NOT_FOUND,
            format!("404 User ID {id} not found Not Found"),
        ));
    }
    Ok(())
}

/// Decodes `gitaly_client_context_bin` as GitLab does (Ruby's lenient `Base64.decode64`, then
/// JSON that must be an object): the id of the user its `scoped-user-id` names, which must
/// exist, or `None` when it names none. Pure, so the fuzzer drives it without a store.
#[doc(hidden)]
pub fn scoped_user_id(encoded: &str) -> Result<Option<i64>, ApiError> {
    let malformed = || ApiError::BadRequest(Some("malformed gitaly_client_context_bin".to_owned()));
    let context: Value =
        serde_json::from_slice(&ruby::decode64(encoded)).map_err(|_| malformed())?;
    let Value::Object(context) = context else {
        return Err(ApiError::BadRequest(Some(
            "Decoded gitaly_client_context_bin is not a valid JSON object".to_owned(),
        )));
    };
    Ok(context
        .get("scoped-user-id")
        .filter(|v| ruby::is_present(v))
        .map(ruby::to_i))
}
