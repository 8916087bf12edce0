//! `POST /internal/lfs_authenticate`: the credentials `git-lfs-authenticate` hands to Git LFS
//! over SSH (GitLab Shell calls `/allowed` first).

use axum::Json;
use axum::extract::State;

use base64::Engine as _;
use serde::Serialize;

use gl_http::{ApiError, ShellJwtVerified};
use gl_store::repo::shell::NewLfsToken;

use crate::ShellState;
use crate::actor::actor_query;
use crate::allowed::project_path_query;
use crate::gitaly_client_context::InternalParams;

/// `Gitlab::LfsToken::DEFAULT_EXPIRE_TIME`.
pub const LFS_TOKEN_EXPIRES_IN: i64 = 7200;

#[derive(Debug, Serialize)]
pub struct LfsCredentials {
    username: String,
    lfs_token: gl_model::SecretText,
    repository_http_path: String,
    expires_in: i64,
}

/// GitLab's order: a missing project, or one without LFS, is `404 Not Found` before the actor
/// is looked at; then no actor at all is the record-not-found `404 Not found`. Deploy keys act
/// as `lfs+deploy-key-<id>`, user keys as their owner. The token is random, stored as a digest
/// with the actor and project, and expires after `expires_in` seconds.
pub async fn lfs_authenticate(
    _: ShellJwtVerified,
    State(state): State<ShellState>,
    InternalParams(params): InternalParams,
) -> Result<Json<LfsCredentials>, ApiError> {
    let project = project_path_query(&params);
    let token =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(gl_auth::random_bytes::<32>());
    let new_token = NewLfsToken {
        digest: gl_auth::token_digest(&token),
        expires_at: chrono::Utc::now().timestamp() + LFS_TOKEN_EXPIRES_IN,
    };
    let records = state
        .app
        .repo
        .git_access()
        .load_and_store_lfs_token(&actor_query(&params), &project, &new_token)
        .await?;
    let project = records
        .project
        .filter(|project| project.lfs_enabled)
        .ok_or(ApiError::NotFound(None))?;
    let username = match (&records.key, &records.user) {
        (Some(key), _) if key.deploy => format!("lfs+deploy-key-{}", key.id),
        (_, Some(user)) => user.username.clone(),
        _ => {
            return Err(ApiError::RecordNotFound);
        }
    };
    Ok(Json(LfsCredentials {
        username,
        lfs_token: token.into(),
        repository_http_path: format!(
            "{}/{}.git",
            records.settings.gitlab_url.trim_end_matches('/'),
            project.repository_full_path(records.repo_type)
        ),
        expires_in: LFS_TOKEN_EXPIRES_IN,
    }))
}
