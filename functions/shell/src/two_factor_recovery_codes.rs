//! `POST /internal/two_factor_recovery_codes`: GitLab Shell's `2fa_recovery_codes` command.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use gl_http::{ApiError, ShellJwtVerified};

use crate::ShellState;
use crate::account::{AccountCommand, acting_user, failure, is_deploy_key};

#[derive(Debug, Serialize)]
struct RecoveryCodes {
    success: bool,
    recovery_codes: Vec<gl_model::SecretText>,
}

/// `POST /internal/two_factor_recovery_codes`: ten fresh codes (16 lower-case hex characters,
/// as GitLab's `generate_otp_backup_codes!`), stored as digests, replacing the previous set.
pub async fn two_factor_recovery_codes(
    _: ShellJwtVerified,
    State(state): State<ShellState>,
    AccountCommand { params, actor }: AccountCommand,
) -> Result<Response, ApiError> {
    let repo = &state.app.repo;
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
        recovery_codes: codes.into_iter().map(Into::into).collect(),
    })
    .into_response())
}
