//! The account commands of GitLab Shell (`2fa_recovery_codes`, `personal_access_token`,
//! `2fa_verify`). GitLab always answers 200 here and puts the outcome in `success`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

use gl_http::{ApiError, Params, ShellJwtVerified};
use gl_model::PersonalAccessToken;

use crate::ShellState;
use gl_model::User;
use gl_store::repo::identity::ResolvedActor as Actor;

use crate::actor::actor_query;
use crate::params::InternalParams;

#[derive(Debug, Serialize)]
pub struct Failure {
    success: bool,
    message: String,
}

fn failure(message: impl Into<String>) -> Response {
    Json(Failure {
        success: false,
        message: message.into(),
    })
    .into_response()
}

/// `validate_actor` and the `user_id` rule, shared by both commands: the user who acts, or the
/// message for an actor that cannot act.
fn acting_user(params: &Params, actor: Actor) -> Result<User, &'static str> {
    if params.has("key_id") {
        return match (actor.key, actor.user) {
            (None, _) => Err("Could not find the given key"),
            (Some(_), None) => Err("Could not find a user for the given key"),
            (Some(_), Some(user)) => Ok(user),
        };
    }
    match actor.user {
        Some(user) => Ok(user),
        None if params.has("user_id") => Err("Could not find the given user"),
        None => Err("Could not find a user without a key"),
    }
}

fn is_deploy_key(actor: &Actor) -> bool {
    actor.key.as_ref().is_some_and(|key| key.deploy)
}

#[derive(Debug, Serialize)]
struct RecoveryCodes {
    success: bool,
    recovery_codes: Vec<String>,
}

/// `POST /internal/two_factor_recovery_codes`: ten fresh codes (16 lower-case hex characters,
/// as GitLab's `generate_otp_backup_codes!`), stored as digests, replacing the previous set.
pub async fn two_factor_recovery_codes(
    _: ShellJwtVerified,
    State(state): State<ShellState>,
    InternalParams(params): InternalParams,
) -> Result<Response, ApiError> {
    let repo = &state.app.repo;
    let actor = repo.identity().actor(&actor_query(&params)).await?;
    let deploy_key = is_deploy_key(&actor);
    let user = match acting_user(&params, actor) {
        Ok(user) => user,
        Err(message) => return Ok(failure(message)),
    };
    if deploy_key {
        return Ok(failure(
            "Deploy keys cannot be used to retrieve recovery codes",
        ));
    }
    if !user.two_factor_enabled {
        return Ok(failure(
            "Two-factor authentication is not enabled for this user",
        ));
    }
    let codes: Vec<String> = (0..10)
        .map(|_| hex::encode(gl_auth::random_bytes::<8>()))
        .collect();
    let digests: Vec<String> = codes
        .iter()
        .map(|code| gl_auth::token_digest(code))
        .collect();
    repo.shell()
        .replace_recovery_codes(user.id, &digests)
        .await?;
    Ok(Json(RecoveryCodes {
        success: true,
        recovery_codes: codes,
    })
    .into_response())
}

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

/// Ruby's `Date.parse` for the forms people type: ISO dates (a time after them is ignored),
/// day/month/year with `/`, `.` or `-`, and day-month-year words.
fn parse_date(raw: &str) -> Option<NaiveDate> {
    let raw = raw.trim();
    let date_part = match raw.char_indices().nth(10) {
        Some((at, 'T' | 't' | ' ')) => &raw[..at],
        _ => raw,
    };
    [
        "%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d %b %Y", "%d %B %Y",
        "%b %d %Y", "%B %d %Y", "%Y%m%d",
    ]
    .iter()
    .find_map(|format| NaiveDate::parse_from_str(date_part, format).ok())
}

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
    token: String,
    scopes: Vec<String>,
    expires_at: Option<String>,
}

/// `POST /internal/personal_access_token`: checks in GitLab's order (deploy key first, then
/// the actor, name, scopes, expiry), then a token shown once and stored as a digest.
pub async fn personal_access_token(
    _: ShellJwtVerified,
    State(state): State<ShellState>,
    InternalParams(params): InternalParams,
) -> Result<Response, ApiError> {
    let repo = &state.app.repo;
    let actor = repo.identity().actor(&actor_query(&params)).await?;
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
        Some(raw) => match parse_date(&raw) {
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
        token: plaintext,
        scopes,
        expires_at: token.expires_at,
    })
    .into_response())
}

/// `POST /internal/two_factor_manual_otp_check` and `two_factor_push_otp_check`: GitLab CE's
/// answer. OTP verification over SSH is an EE feature that needs a licence; without it GitLab
/// says so, and GitLab Shell prints the message.
pub async fn otp_check_unavailable(_: ShellJwtVerified, _: InternalParams) -> Response {
    failure("Feature is not available")
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

    #[test]
    fn dates_parse_leniently() {
        let expected = NaiveDate::from_ymd_opt(2020, 7, 24);
        for raw in [
            "2020-07-24",
            "24 Jul 2020",
            "2020/07/24",
            " 2020-07-24 ",
            "24/07/2020",
            "24.07.2020",
            "2020-07-24T10:00:00Z",
            "2020-07-24 10:00",
        ] {
            assert_eq!(parse_date(raw), expected, "{raw}");
        }
        assert_eq!(parse_date("tomorrow"), None);
        assert_eq!(parse_date("2020-13-01"), None);
    }
}
