//! `PRIVATE-TOKEN` authentication for the admin-only endpoints (CustomersDot's billing and
//! storage-limit calls): a personal access token of an active admin, with the `api` scope.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;

use gl_model::{User, UserState};

use crate::{ApiError, AppState, Params};

/// The header GitLab reads personal access tokens from.
pub const PRIVATE_TOKEN_HEADER: &str = "PRIVATE-TOKEN";

/// An authenticated admin. As GitLab's API does: a missing or unknown token is 401; an expired
/// or revoked one 401 `invalid_token`; one without the `api` scope 403 `insufficient_scope`;
/// a valid token of a user who is not an active admin 403.
#[derive(Debug, Clone)]
pub struct AdminAuthenticated {
    pub user: User,
}

/// `AccessTokenValidationService#validate`: expiry, then revocation, then the scope.
pub fn validate_token(
    token: &gl_model::PersonalAccessToken,
    scope: &'static str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ApiError> {
    if token.expired(now) {
        return Err(ApiError::InvalidToken("Token has expired."));
    }
    if token.revoked {
        return Err(ApiError::InvalidToken("Token has been revoked."));
    }
    if !token.scopes.iter().any(|granted| granted == scope) {
        return Err(ApiError::InsufficientScope(scope));
    }
    Ok(())
}

impl<S> FromRequestParts<S> for AdminAuthenticated
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
            .identity()
            .personal_access_token_by_digest(&gl_auth::token_digest(&token))
            .await?
            .ok_or(ApiError::Unauthorized)?;
        validate_token(&stored, "api", chrono::Utc::now())?;
        let user = state
            .repo
            .identity()
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
