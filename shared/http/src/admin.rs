//! `PRIVATE-TOKEN` authentication for the admin-only endpoints (CustomersDot's billing and
//! storage-limit calls): a personal access token of an active admin, with the `api` scope.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde_json::json;

use gl_model::{User, UserState};

use crate::{ApiError, AppState, Params};

/// The header GitLab reads personal access tokens from.
pub const PRIVATE_TOKEN_HEADER: &str = "PRIVATE-TOKEN";

/// An authenticated admin. As GitLab's API does: a missing, unknown, revoked or expired token
/// is 401; a token without the `api` scope is 403 `insufficient_scope`; a valid token of a
/// user who is not an active admin is 403.
#[derive(Debug, Clone)]
pub struct AdminRequest {
    pub user: User,
}

fn insufficient_scope() -> ApiError {
    ApiError::Custom {
        status: StatusCode::FORBIDDEN,
        body: json!({
            "error": "insufficient_scope",
            "error_description": "The request requires higher privileges than provided by the access token.",
            "scope": "api"
        }),
    }
}

impl<S> FromRequestParts<S> for AdminRequest
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let header = parts
            .headers
            .get(PRIVATE_TOKEN_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let token = header
            .or_else(|| {
                Params::parse(parts.uri.query(), None, b"")
                    .ok()?
                    .text("private_token")
            })
            .filter(|token| !token.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let stored = state
            .repo
            .personal_access_token_by_digest(&gl_auth::token_digest(&token))
            .await?
            .ok_or(ApiError::Unauthorized)?;
        if stored.revoked || stored.expired(chrono::Utc::now()) {
            return Err(ApiError::Unauthorized);
        }
        if !stored.scopes.iter().any(|scope| scope == "api") {
            return Err(insufficient_scope());
        }
        let user = state
            .repo
            .user_by_id(stored.user_id)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        if user.state != UserState::Active {
            return Err(ApiError::Unauthorized);
        }
        if !user.admin {
            return Err(ApiError::Forbidden(None));
        }
        Ok(Self { user })
    }
}
