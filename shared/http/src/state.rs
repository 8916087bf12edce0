//! What every handler gets: the repository over the store, the verifiers built from the
//! secrets, and the instance facts that `/check` reports.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;

use gl_auth::{SHELL_API_HEADER, ShellJwtVerifier};
use gl_store::Repository;

use crate::ApiError;

/// The GitLab version this service answers as (`Gitlab::VERSION`, `Gitlab.revision`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInfo {
    pub gitlab_version: String,
    pub gitlab_rev: String,
}

#[derive(Clone)]
pub struct AppState {
    pub repo: Repository,
    /// Absent in functions that serve no GitLab Shell endpoint; the extractor then rejects.
    pub shell_jwt: Option<Arc<ShellJwtVerifier>>,
    pub instance: Arc<InstanceInfo>,
    /// OpsTrace's `Gitlab-Error-Tracking-Token`, where the function serves error tracking.
    pub error_tracking_token: Option<Arc<Vec<u8>>>,
}

/// Proof that the request carried a valid `Gitlab-Shell-Api-Request` JWT
/// (`authenticate_by_gitlab_shell_token!`, a `before` hook: it runs ahead of parameter
/// validation, so an unauthenticated request learns nothing about its parameters).
#[derive(Debug, Clone, Copy)]
pub struct ShellRequest;

impl<S> FromRequestParts<S> for ShellRequest
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let Some(verifier) = &state.shell_jwt else {
            tracing::error!(
                "GitLab Shell request to a function configured without the shell secret"
            );
            return Err(ApiError::Unauthorized);
        };
        let header = parts
            .headers
            .get(SHELL_API_HEADER)
            .map(|value| value.as_bytes());
        verifier.verify(header).map_err(|reason| {
            tracing::info!(%reason, "GitLab Shell JWT rejected");
            ApiError::Unauthorized
        })?;
        Ok(Self)
    }
}

impl AppState {
    pub fn new(
        store: Arc<dyn gl_store::Store>,
        shell_secret: Option<&[u8]>,
        instance: InstanceInfo,
    ) -> Self {
        Self {
            repo: Repository::new(store),
            shell_jwt: shell_secret.map(|secret| Arc::new(ShellJwtVerifier::new(secret))),
            instance: Arc::new(instance),
            error_tracking_token: None,
        }
    }

    pub fn with_error_tracking_token(mut self, token: Option<&[u8]>) -> Self {
        self.error_tracking_token = token.map(|t| Arc::new(t.to_vec()));
        self
    }

    /// The state of a Lambda function: DynamoDB, and the secrets the configuration holds.
    /// Builds clients only; the first network call happens with the first request.
    pub async fn for_lambda(config: &crate::Config) -> Self {
        let store = gl_store::dynamodb::DynamoStore::connect(&config.dynamodb).await;
        Self::new(
            Arc::new(store),
            config.shell_secret.as_deref(),
            config.instance.clone(),
        )
        .with_error_tracking_token(config.error_tracking_token.as_deref())
    }
}
