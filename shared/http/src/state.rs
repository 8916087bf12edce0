//! What every handler gets: the repository over the store, the verifiers built from the
//! secrets, and the instance facts that `/check` reports.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use gl_auth::{SHELL_API_HEADER, ShellJwtVerifier};
use gl_store::Repository;

use crate::ApiError;
use crate::config::{SecretSetting, SecretsExtension};
use crate::error::{log_refusal, refused};
use crate::secrets::{ExtensionSource, Rotating};

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
    pub shell_jwt: Option<Arc<Rotating<ShellJwtVerifier>>>,
    pub instance: Arc<InstanceInfo>,
    /// OpsTrace's `Gitlab-Error-Tracking-Token`, where the function serves error tracking.
    pub error_tracking_token: Option<Arc<Rotating<Vec<u8>>>>,
    /// Absent in functions that serve no KAS endpoint; the KAS extractor then rejects.
    pub kas_jwt: Option<Arc<Rotating<gl_auth::KasJwtVerifier>>>,
    /// CustomersDot's JWT verifier, where a portal URL is configured.
    pub customers_dot: Option<Arc<gl_auth::customers_dot::CustomersDotVerifier>>,
}

/// Proof that the request carried a valid `Gitlab-Shell-Api-Request` JWT
/// (`authenticate_by_gitlab_shell_token!`, a `before` hook: it runs ahead of parameter
/// validation, so an unauthenticated request learns nothing about its parameters).
#[derive(Debug, Clone, Copy)]
pub struct ShellJwtVerified;

impl<S> FromRequestParts<S> for ShellJwtVerified
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        verify_shell_jwt(&AppState::from_ref(state), &parts.headers).await?;
        Ok(Self)
    }
}

/// The values of a secret a request is checked against; 503 when there are none (Secrets
/// Manager never answered this process), which tells an unauthenticated caller nothing.
pub async fn secret_keys<T: Send + Sync>(
    secret: &Rotating<T>,
) -> Result<Arc<crate::secrets::Keys<T>>, ApiError> {
    secret
        .keys()
        .await
        .map_err(|reason| ApiError::Unavailable(format!("secret unavailable: {reason}")))
}

/// The `Gitlab-Shell-Api-Request` check of [`ShellJwtVerified`], for handlers that must read the
/// body before they know which credential applies. During a rotation window a token signed
/// with the previous secret is accepted too.
pub async fn verify_shell_jwt(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(secret) = &state.shell_jwt else {
        tracing::error!("GitLab Shell request to a function configured without the shell secret");
        return Err(ApiError::Unauthorized);
    };
    let header = headers.get(SHELL_API_HEADER).map(|value| value.as_bytes());
    secret_keys(secret)
        .await?
        .check(|verifier| verifier.verify(header))
        .map_err(|reason| {
            log_refusal("GitLab Shell JWT", &reason);
            ApiError::Unauthorized
        })
}

/// Proof that the request carried a valid `Gitlab-Kas-Api-Request` JWT. Any failure is 401
/// `{"message":"KAS JWT authentication invalid"}`, checked before anything else.
#[derive(Debug, Clone, Copy)]
pub struct KasJwtVerified;

fn kas_invalid() -> ApiError {
    ApiError::message(
        axum::http::StatusCode::UNAUTHORIZED,
        "KAS JWT authentication invalid",
    )
}

impl<S> FromRequestParts<S> for KasJwtVerified
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let Some(secret) = &state.kas_jwt else {
            tracing::error!("KAS request to a function configured without the KAS secret");
            return Err(kas_invalid());
        };
        let header = parts
            .headers
            .get(gl_auth::KAS_API_HEADER)
            .map(|value| value.as_bytes());
        secret_keys(secret)
            .await?
            .check(|verifier| verifier.verify(header))
            .map_err(|reason| {
                log_refusal("KAS JWT", &reason);
                kas_invalid()
            })?;
        Ok(Self)
    }
}

/// An agent authenticated by its token: `Authorization: Bearer <token>`, or, when there is no
/// `Authorization` header, `Gitlab-Agentk-Api-Request: <token>`; looked up by digest. The KAS
/// JWT is checked first. Missing, unknown or revoked tokens are 401 `401 Unauthorized`.
#[derive(Debug, Clone)]
pub struct AgentAuthenticated {
    pub agent: gl_model::Agent,
}

/// The KAS JWT checked and an agent token present, not yet looked up: for endpoints that read
/// the token's item together with others in one round trip.
#[derive(Debug, Clone)]
pub struct AgentTokenPresented {
    pub digest: String,
}

impl<S> FromRequestParts<S> for AgentTokenPresented
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        KasJwtVerified::from_request_parts(parts, state).await?;
        let token = agent_token(parts).ok_or_else(|| refused("agent token", "missing"))?;
        Ok(Self {
            digest: gl_auth::token_digest(&token),
        })
    }
}

impl<S> FromRequestParts<S> for AgentAuthenticated
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AgentTokenPresented { digest } =
            AgentTokenPresented::from_request_parts(parts, state).await?;
        let state = AppState::from_ref(state);
        let agent = state
            .repo
            .identity()
            .agent_by_token_digest(&digest)
            .await?
            .ok_or_else(|| refused("agent token", "unknown"))?;
        if agent.revoked {
            return Err(refused("agent token", "revoked"));
        }
        Ok(Self { agent })
    }
}

fn agent_token(parts: &Parts) -> Option<String> {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let token = match header("Authorization") {
        Some(authorization) => {
            let (scheme, token) = authorization.split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return None;
            }
            token.trim()
        }
        None => header("Gitlab-Agentk-Api-Request")?,
    };
    (!token.is_empty()).then(|| token.to_owned())
}

impl AppState {
    pub fn new(
        store: Arc<dyn gl_store::Store>,
        shell_secret: Option<&[u8]>,
        instance: InstanceInfo,
    ) -> Self {
        Self {
            // Every store call a request makes counts towards its `Server-Timing`.
            repo: Repository::new(Arc::new(gl_store::timing::MeteredStore::new(store))),
            shell_jwt: shell_secret
                .map(|secret| Arc::new(Rotating::fixed(ShellJwtVerifier::new(secret)))),
            instance: Arc::new(instance),
            error_tracking_token: None,
            kas_jwt: None,
            customers_dot: None,
        }
    }

    /// Accepts CustomersDot's JWTs, verified against the portal at `portal_url` through
    /// `fetch` (HTTPS in production, a stand-in in tests).
    pub fn with_customers_dot(
        mut self,
        portal_url: &str,
        fetch: Arc<dyn gl_auth::customers_dot::FetchJson>,
    ) -> Self {
        self.customers_dot = Some(Arc::new(gl_auth::customers_dot::CustomersDotVerifier::new(
            portal_url, fetch,
        )));
        self
    }

    /// `key` is the decoded 32-byte KAS secret.
    pub fn with_kas_secret(mut self, key: Option<&[u8]>) -> Self {
        self.kas_jwt = key.map(|k| Arc::new(Rotating::fixed(gl_auth::KasJwtVerifier::new(k))));
        self
    }

    /// Trusts the instance settings it read for `ttl` (see [`gl_store::DEFAULT_SETTINGS_TTL`]).
    pub fn with_settings_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.repo = Repository::with_settings_ttl(Arc::clone(self.repo.store()), ttl);
        self
    }

    pub fn with_error_tracking_token(mut self, token: Option<&[u8]>) -> Self {
        self.error_tracking_token = token.map(|t| Arc::new(Rotating::fixed(t.to_vec())));
        self
    }

    /// The state of a Lambda function: DynamoDB, and the secrets the configuration names.
    /// Builds clients only; secrets kept in Secrets Manager are asked for in the background
    /// at once, while the runtime waits for the first event, so the first request seldom
    /// waits for them.
    pub async fn for_lambda(config: &crate::Config) -> Self {
        let store = gl_store::dynamodb::DynamoStore::connect(&config.dynamodb).await;
        let extension = &config.secrets_extension;
        let mut state = Self::new(Arc::new(store), None, config.instance.clone())
            .with_settings_ttl(config.settings_ttl);
        state.shell_jwt = rotating(&config.shell_secret, shell_verifier, extension);
        state.kas_jwt = rotating(&config.kas_secret, kas_verifier, extension);
        state.error_tracking_token = rotating(
            &config.error_tracking_token,
            error_tracking_token,
            extension,
        );
        state.prefetch_secrets();
        state
    }

    fn prefetch_secrets(&self) {
        fn prefetch<T: Send + Sync + 'static>(secret: &Option<Arc<Rotating<T>>>) {
            if let Some(secret) = secret.clone() {
                tokio::spawn(async move {
                    let _ = secret.keys().await;
                });
            }
        }
        prefetch(&self.shell_jwt);
        prefetch(&self.kas_jwt);
        prefetch(&self.error_tracking_token);
    }

    /// [`Self::with_customers_dot`] over HTTPS, from `CUSTOMERS_DOT_URL`, for the functions
    /// that accept CustomersDot's JWT. Only they call it, so only their binaries carry the
    /// HTTPS client (hyper-rustls with the system's trust roots).
    pub fn with_customers_dot_from(self, config: &crate::Config) -> Self {
        match &config.customers_dot_url {
            Some(url) => {
                self.with_customers_dot(url, Arc::new(gl_auth::customers_dot::HttpFetch::default()))
            }
            None => self,
        }
    }
}

/// A secret as configured: a value parsed now, or a Secrets Manager secret read through the
/// extension (each version parsed as it arrives).
fn rotating<T: Send + Sync>(
    setting: &Option<SecretSetting>,
    parse: fn(Vec<u8>) -> Result<T, String>,
    extension: &SecretsExtension,
) -> Option<Arc<Rotating<T>>> {
    Some(Arc::new(match setting.as_ref()? {
        SecretSetting::Value(value) => match parse(value.clone()) {
            Ok(parsed) => Rotating::fixed(parsed),
            // Config has checked a value already; one that still fails authenticates nothing.
            Err(reason) => {
                tracing::error!(%reason, "configured secret refused");
                Rotating::fetched(Box::new(Refused(reason)), parse, extension.rotation)
            }
        },
        SecretSetting::SecretsManager { arn } => Rotating::fetched(
            Box::new(ExtensionSource::new(
                arn.clone(),
                extension.port,
                extension.session_token.clone(),
            )),
            parse,
            extension.rotation,
        ),
    }))
}

/// The source of a configured value that did not parse: every fetch fails with its reason.
struct Refused(String);

#[async_trait::async_trait]
impl crate::secrets::SecretSource for Refused {
    async fn fetch(
        &self,
        _: crate::secrets::Stage,
    ) -> Result<Option<crate::secrets::Fetched>, String> {
        Err(self.0.clone())
    }

    fn describe(&self) -> String {
        "configured value".to_owned()
    }
}

/// The GitLab Shell secret as a file holds it: one trailing newline dropped, at least 16
/// bytes.
fn shell_verifier(file: Vec<u8>) -> Result<ShellJwtVerifier, String> {
    let secret = gl_auth::shell_secret_from_file(&file);
    gl_auth::check_shell_secret(&secret)?;
    Ok(ShellJwtVerifier::new(&secret))
}

/// The KAS secret as a file holds it (base64 of 32 bytes), or, from the configuration, the
/// 32 bytes already decoded.
fn kas_verifier(file: Vec<u8>) -> Result<gl_auth::KasJwtVerifier, String> {
    let key = if file.len() == 32 {
        file
    } else {
        gl_auth::kas_secret_from_file(&file).map_err(|err| err.to_string())?
    };
    Ok(gl_auth::KasJwtVerifier::new(&key))
}

/// OpsTrace's token: one trailing newline dropped, never empty.
fn error_tracking_token(file: Vec<u8>) -> Result<Vec<u8>, String> {
    let token = gl_auth::shell_secret_from_file(&file);
    if token.is_empty() {
        return Err("the error tracking token is empty".to_owned());
    }
    Ok(token)
}
