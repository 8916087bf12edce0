//! `GET /internal/discover`: who is this key or user? GitLab Shell's welcome message.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::gitaly_client_context::InternalParams;
use gl_http::{ApiError, AppState, ShellJwtVerified};
use gl_model::User;

use crate::actor::actor_query;

/// `API::Entities::UserSafe`.
#[derive(Debug, Serialize)]
pub struct UserSafe {
    id: i64,
    username: String,
    name: String,
}

impl From<User> for UserSafe {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            username: user.username,
            name: user.name,
        }
    }
}

/// Always 200: the user, or the JSON literal `null` when nobody matches.
pub async fn discover(
    _: ShellJwtVerified,
    State(state): State<AppState>,
    InternalParams(params): InternalParams,
) -> Result<Json<Option<UserSafe>>, ApiError> {
    let actor = state.repo.identity().actor(&actor_query(&params)).await?;
    Ok(Json(actor.user.map(UserSafe::from)))
}
