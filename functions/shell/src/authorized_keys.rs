//! `GET /internal/authorized_keys?key=<base64 blob>`: OpenSSH's `AuthorizedKeysCommand` (via
//! `gitlab-shell-authorized-keys-check`) and gitlab-sshd asking which key this is.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::gitaly_client_context::InternalParams;
use gl_http::{ApiError, AppState, ShellJwtVerified};
use gl_model::fingerprint::{OpensshKey, sha256_fingerprint};
use gl_model::{KeyUsage, SshKey};

/// `API::Entities::SSHKey`, with `key` in its publishable form.
#[derive(Debug, Serialize)]
pub struct SshKeyEntity {
    id: i64,
    title: String,
    created_at: String,
    expires_at: Option<String>,
    key: String,
    usage_type: KeyUsage,
}

/// Finds the key by the SHA-256 fingerprint of the decoded blob. The blob is decoded leniently
/// like GitLab does, so padding is optional (gitlab-sshd sends none) and garbage simply finds
/// nothing. One store round trip: the key and the settings (for the host) in one batch.
pub async fn authorized_keys(
    _: ShellJwtVerified,
    State(state): State<AppState>,
    InternalParams(params): InternalParams,
) -> Result<Json<SshKeyEntity>, ApiError> {
    let blob = params.require_text("key")?;
    let fingerprint = sha256_fingerprint(&gl_model::ruby::decode64(&blob));
    let (key, settings) = state.repo.identity().authorized_key(&fingerprint).await?;
    let key: SshKey = key.ok_or(ApiError::NotFound(Some("Key")))?;
    let shown = OpensshKey {
        algorithm: key.algorithm.clone(),
        blob_base64: key.blob_base64.clone(),
        fingerprint_sha256: key.fingerprint_sha256.clone(),
    }
    .publishable(key.owner_name.as_deref(), settings.gitlab_host());
    Ok(Json(SshKeyEntity {
        id: key.id,
        title: key.title,
        created_at: key.created_at,
        expires_at: key.expires_at,
        key: shown,
        usage_type: key.usage_type,
    }))
}
