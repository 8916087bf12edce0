//! Admin authentication for the admin-only endpoints (CustomersDot's billing calls, the
//! GitLab.com Admin Area's storage limit exclusions): a personal access token of an active
//! admin, as GitLab's API guard (`Gitlab::Auth::AuthFinders`) and `authenticated_as_admin!`
//! check it.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};

use gl_model::{PersonalAccessToken, Settings, User, UserState};
use gl_store::StoreError;

use crate::error::{log_refusal, refused};
use crate::{ApiError, AppState, Params};

/// The header GitLab reads personal access tokens from.
pub const PRIVATE_TOKEN_HEADER: &str = "PRIVATE-TOKEN";

/// The parameter GitLab reads personal access tokens from (query or body).
pub const PRIVATE_TOKEN_PARAM: &str = "private_token";

/// The scope every admin endpoint accepts.
pub const API_SCOPE: &str = "api";

/// What GETs also accept (`allow_access_with_scope :read_api, if: get? || head?`), and what
/// the `insufficient_scope` body names then: the endpoint's scopes joined by a space.
const READ_SCOPES: &str = "api read_api";

/// An authenticated admin, with the instance settings read alongside the token. As GitLab's
/// API does: a missing or unknown token is 401; an expired or revoked one 401 `invalid_token`;
/// one without the scope 403 `insufficient_scope`; a token whose user is not active (blocked,
/// deactivated) 401; an active user who is not an admin 403.
#[derive(Debug, Clone)]
pub struct AdminAuthenticated {
    pub user: User,
    pub settings: Settings,
}

/// An active user's valid personal access token, admin or not, with the instance settings.
#[derive(Debug, Clone)]
pub struct TokenAuthenticated {
    pub user: User,
    pub settings: Settings,
}

/// `AccessTokenValidationService#validate`: expiry, then revocation, then the scope.
pub fn validate_token(
    token: &PersonalAccessToken,
    scope: &'static str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ApiError> {
    validate_token_for(token, &[scope], scope, now)
}

/// [`validate_token`] for an endpoint that accepts any of `scopes`; `named` is what the
/// `insufficient_scope` body lists.
fn validate_token_for(
    token: &PersonalAccessToken,
    scopes: &[&str],
    named: &'static str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ApiError> {
    let refusal = if token.expired(now) {
        ("expired", ApiError::InvalidToken("Token has expired."))
    } else if token.revoked {
        ("revoked", ApiError::InvalidToken("Token has been revoked."))
    } else if !token
        .scopes
        .iter()
        .any(|granted| scopes.contains(&granted.as_str()))
    {
        ("insufficient scope", ApiError::InsufficientScope(named))
    } else {
        return Ok(());
    };
    log_refusal(PAT, &refusal.0);
    Err(refusal.1)
}

const PAT: &str = "personal access token";

/// The token a request presents, in `find_personal_access_token`'s order: the
/// `private_token` parameter, the `PRIVATE-TOKEN` header, then `Authorization: Bearer`
/// (GitLab tries a bearer token as a personal access token when it is no OAuth token, and
/// there are no OAuth tokens here). Blank values count as absent, as `.presence` does.
pub fn presented_token(headers: &HeaderMap, params: &Params) -> Option<String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|value| !value.is_empty())
    };
    let bearer = || {
        let (scheme, token) = header("Authorization")?.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|token| !token.is_empty())
    };
    params
        .text(PRIVATE_TOKEN_PARAM)
        .filter(|token| !token.trim().is_empty())
        .or_else(|| header(PRIVATE_TOKEN_HEADER).map(str::to_owned))
        .or_else(|| bearer().map(str::to_owned))
}

/// `authenticated_as_admin!` with the token from `headers` or `params`: two round trips (the
/// token and the settings, then its user).
pub async fn authenticate_admin(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    params: &Params,
) -> Result<AdminAuthenticated, ApiError> {
    let (admin, ()) = authenticate_admin_alongside(
        state,
        method,
        headers,
        params,
        async { Ok(()) },
        |()| async { Ok(()) },
    )
    .await?;
    Ok(admin)
}

/// [`authenticate_admin`] with an endpoint's own reads riding along its two round trips, so
/// that they cost none of their own: `first` runs beside the token lookup (it must not depend
/// on who is calling), `then` beside the user read, once the token is valid. A request with
/// no token reads nothing. Authentication answers first: the endpoint's reads are only
/// looked at once the caller is known to be an admin.
pub async fn authenticate_admin_alongside<A, B, FA, FB>(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    params: &Params,
    first: FA,
    then: impl FnOnce(A) -> FB,
) -> Result<(AdminAuthenticated, B), ApiError>
where
    FA: Future<Output = Result<A, StoreError>>,
    FB: Future<Output = Result<B, StoreError>>,
{
    let (TokenAuthenticated { user, settings }, then) =
        authenticate_user_gated(None, state, method, headers, params, first, then).await?;
    if !user.admin {
        return Err(ApiError::Forbidden(None));
    }
    Ok((AdminAuthenticated { user, settings }, then))
}

/// A check of the instance settings that answers before authentication does, as a
/// GitLab.com-only endpoint's `before` block (`forbidden! unless ...`) does.
pub type Gate = fn(&Settings) -> Result<(), ApiError>;

/// [`authenticate_admin_alongside`] without its last step, and behind `gate`: an active
/// user's valid token, admin or not, for endpoints that also serve some non-admins (a
/// namespace's owners read its subscription; the caller decides what a non-admin may do).
/// `gate` sees the settings read beside the token and answers first; a request with no token
/// reads the settings alone for it.
pub async fn authenticate_user_gated<A, B, FA, FB>(
    gate: Option<Gate>,
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    params: &Params,
    first: FA,
    then: impl FnOnce(A) -> FB,
) -> Result<(TokenAuthenticated, B), ApiError>
where
    FA: Future<Output = Result<A, StoreError>>,
    FB: Future<Output = Result<B, StoreError>>,
{
    let Some(token) = presented_token(headers, params) else {
        if let Some(gate) = gate {
            gate(&state.repo.identity().settings().await?)?;
        }
        return Err(refused(PAT, "missing"));
    };
    let digest = gl_auth::token_digest(&token);
    let (found, first) = tokio::join!(
        state
            .repo
            .identity()
            .personal_access_token_with_settings(&digest),
        first
    );
    let (stored, settings) = found?;
    if let Some(gate) = gate {
        gate(&settings)?;
    }
    let stored = stored.ok_or_else(|| refused(PAT, "unknown"))?;
    let (scopes, named): (&[&str], &'static str) =
        if method == Method::GET || method == Method::HEAD {
            (&[API_SCOPE, "read_api"], READ_SCOPES)
        } else {
            (&[API_SCOPE], API_SCOPE)
        };
    validate_token_for(&stored, scopes, named, chrono::Utc::now())?;
    let first = first?;
    let (user, then) = tokio::join!(
        state.repo.identity().user_by_id(stored.user_id),
        then(first)
    );
    let user = user?.ok_or_else(|| refused(PAT, "its user does not exist"))?;
    if user.state != UserState::Active {
        return Err(refused(PAT, "its user is not active"));
    }
    Ok((TokenAuthenticated { user, settings }, then?))
}

/// For endpoints that take no body: the token from the headers or the query string.
impl<S> FromRequestParts<S> for AdminAuthenticated
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let params = Params::parse(parts.uri.query(), None, b"").unwrap_or_default();
        authenticate_admin(&state, &parts.method, &parts.headers, &params).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn the_parameter_wins_then_the_header_then_bearer() {
        let params = Params::parse(Some("private_token=from-param"), None, b"").unwrap();
        let all = headers(&[
            (PRIVATE_TOKEN_HEADER, "from-header"),
            ("authorization", "Bearer from-bearer"),
        ]);
        assert_eq!(
            presented_token(&all, &params).as_deref(),
            Some("from-param")
        );
        let none = Params::default();
        assert_eq!(presented_token(&all, &none).as_deref(), Some("from-header"));
        let bearer = headers(&[("authorization", "bearer from-bearer")]);
        assert_eq!(
            presented_token(&bearer, &none).as_deref(),
            Some("from-bearer")
        );
        let basic = headers(&[("authorization", "Basic dXNlcjpwYXNz")]);
        assert_eq!(presented_token(&basic, &none), None);
        let blank = Params::parse(Some("private_token="), None, b"").unwrap();
        assert_eq!(presented_token(&headers(&[]), &blank), None);
    }
}
