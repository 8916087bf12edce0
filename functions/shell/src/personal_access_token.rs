//! `POST /internal/personal_access_token`: GitLab Shell's `personal_access_token` command.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use serde::Serialize;
use serde_json::Value;

use gl_http::{ApiError, Params, ShellJwtVerified};
use gl_model::{PersonalAccessToken, ruby};

use crate::ShellState;
use crate::account::{AccountCommand, acting_user, failure, is_deploy_key};

/// The scopes a token made over SSH may carry: GitLab's API, repository and registry scopes.
pub const ALLOWED_SCOPES: [&str; 11] = [
    "api",
    "create_runner",
    "k8s_proxy",
    "manage_runner",
    "read_api",
    "read_registry",
    "read_repository",
    "read_user",
    "self_rotate",
    "write_registry",
    "write_repository",
];

/// `PersonalAccessToken::MAX_PERSONAL_ACCESS_TOKEN_LIFETIME_IN_DAYS`.
const MAX_LIFETIME_DAYS: i64 = 365;

fn scopes_of(params: &Params) -> Vec<String> {
    match params.get("scopes") {
        Some(Value::Array(values)) => values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(one)) if !one.is_empty() => vec![one.clone()],
        _ => Vec::new(),
    }
}

#[derive(Debug, Serialize)]
struct CreatedToken {
    success: bool,
    token: gl_model::SecretText,
    scopes: Vec<String>,
    expires_at: Option<String>,
}

/// `POST /internal/personal_access_token`: checks in GitLab's order (deploy key first, then
/// the actor, name, scopes, expiry), then a token shown once and stored as a digest.
pub async fn personal_access_token(
    _: ShellJwtVerified,
    State(state): State<ShellState>,
    AccountCommand { params, actor }: AccountCommand,
) -> Result<Response, ApiError> {
    let repo = &state.app.repo;
    if is_deploy_key(&actor) {
        return Ok(failure(
            "Deploy keys cannot be used to create personal access tokens",
        ));
    }
    let user = match acting_user(&params, actor) {
        Ok(user) => user,
        Err(message) => return Ok(failure(message)),
    };
    let name = params.text("name").unwrap_or_default();
    // `PersonalAccessTokens::CreateService` refuses users who may not create tokens (blocked,
    // deactivated, pending approval); it answers after the name, scope and date-format checks.
    let may_create = user.state == gl_model::UserState::Active;
    if name.trim().is_empty() {
        return Ok(failure("No token name specified"));
    }
    let scopes = scopes_of(&params);
    if scopes.is_empty() {
        return Ok(failure("No token scopes specified"));
    }
    if let Some(invalid) = scopes
        .iter()
        .find(|scope| !ALLOWED_SCOPES.contains(&scope.as_str()))
    {
        return Ok(failure(format!(
            "Invalid scope: '{invalid}'. Valid scopes are: {}",
            gl_model::ruby::inspect(&ALLOWED_SCOPES)
        )));
    }
    let today = Utc::now().date_naive();
    let max_expiry = today + Duration::days(MAX_LIFETIME_DAYS);
    let expires_at = match params
        .text("expires_at")
        .filter(|raw| !raw.trim().is_empty())
    {
        None => max_expiry,
        Some(raw) => match ruby::parse_date(&raw) {
            Some(date) => date,
            None => return Ok(failure(format!("Invalid token expiry date: '{raw}'"))),
        },
    };
    // `CreateService#execute` refuses before it builds (and so validates) the token.
    if !may_create {
        return Ok(failure("Failed to create token: Not permitted to create"));
    }
    if expires_at > max_expiry {
        return Ok(failure(format!(
            "Failed to create token: Expires at must be before {max_expiry}"
        )));
    }
    if expires_at < today {
        return Ok(failure(
            "Failed to create token: Expires at cannot be in the past",
        ));
    }
    let plaintext = format!("glpat-{}", hex::encode(gl_auth::random_bytes::<20>()));
    let token = PersonalAccessToken {
        id: i64::from_le_bytes(gl_auth::random_bytes::<8>()) & 0x001F_FFFF_FFFF_FFFF,
        user_id: user.id,
        name,
        token_digest: gl_auth::token_digest(&plaintext),
        scopes: scopes.clone(),
        expires_at: Some(expires_at.to_string()),
        revoked: false,
        created_at: gl_model::gitlab_timestamp(Utc::now()),
    };
    repo.identity().create_personal_access_token(&token).await?;
    Ok(Json(CreatedToken {
        success: true,
        token: plaintext.into(),
        scopes,
        expires_at: token.expires_at,
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_listed_sorted() {
        let mut sorted = ALLOWED_SCOPES;
        sorted.sort_unstable();
        assert_eq!(sorted, ALLOWED_SCOPES);
    }
}
