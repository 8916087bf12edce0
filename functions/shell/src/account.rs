//! What GitLab Shell's account commands (`2fa_recovery_codes`, `personal_access_token`,
//! `2fa_verify`) share: GitLab always answers 200 and puts the outcome in `success`, and the
//! actor must be a user (`validate_actor`).

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use axum::extract::{FromRequest, Request};
use gl_http::{ApiError, Params};
use gl_model::User;
use gl_store::repo::identity::ResolvedActor as Actor;

use crate::ShellState;
use crate::actor::actor_query;
use crate::gitaly_client_context::InternalParams;

/// The parameters of an account command (past the `gitaly_client_context_bin` hook) and the
/// actor they name, resolved.
pub(crate) struct AccountCommand {
    pub params: Params,
    pub actor: Actor,
}

impl FromRequest<ShellState> for AccountCommand {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &ShellState) -> Result<Self, Self::Rejection> {
        let InternalParams(params) = InternalParams::from_request(request, state).await?;
        let actor = state
            .app
            .repo
            .identity()
            .actor(&actor_query(&params))
            .await?;
        Ok(Self { params, actor })
    }
}

#[derive(Debug, Serialize)]
pub struct Failure {
    success: bool,
    message: String,
}

pub(crate) fn failure(message: impl Into<String>) -> Response {
    Json(Failure {
        success: false,
        message: message.into(),
    })
    .into_response()
}

/// `validate_actor` and the `user_id` rule, shared by both commands: the user who acts, or the
/// message for an actor that cannot act. GitLab's `validate_actor` wants a key: a request
/// naming a user without one gets "Could not find the given key" (only an unknown `user_id`
/// gets "Could not find the given user"), so no key-less actor is issued recovery codes or
/// tokens.
pub(crate) fn acting_user(params: &Params, actor: Actor) -> Result<User, &'static str> {
    if params.has("key_id") {
        return match (actor.key, actor.user) {
            (None, _) => Err("Could not find the given key"),
            (Some(_), None) => Err("Could not find a user for the given key"),
            (Some(_), Some(user)) => Ok(user),
        };
    }
    match actor.user {
        Some(_) => Err("Could not find the given key"),
        None if params.has("user_id") => Err("Could not find the given user"),
        None => Err("Could not find a user without a key"),
    }
}

pub(crate) fn is_deploy_key(actor: &Actor) -> bool {
    actor.key.as_ref().is_some_and(|key| key.deploy)
}
