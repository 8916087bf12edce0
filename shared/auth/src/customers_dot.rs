//! CustomersDot's internal-API JWT (`X-Customers-Dot-Internal-Token`), as GitLab's
//! `GitlabSubscriptions::API::Internal::Auth` verifies it: RS256, signed by a key of the
//! subscription portal's JWKS, `iss` the portal's OpenID discovery `issuer`, `sub`
//! `customers-dot-internal-api`, `aud` `gitlab-subscriptions`. The discovery document is kept
//! for a day and the key set for 15 minutes, as GitLab caches them; a token naming a key the
//! set does not hold refetches the set once. Every failure, the portal being down included,
//! is a rejection (401), never an error of ours.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::Mutex;

/// The header CustomersDot sends its token in.
pub const CUSTOMERS_DOT_HEADER: &str = "X-Customers-Dot-Internal-Token";
pub const CUSTOMERS_DOT_SUBJECT: &str = "customers-dot-internal-api";
pub const CUSTOMERS_DOT_AUDIENCE: &str = "gitlab-subscriptions";
/// How long the discovery document is kept (`Gitlab::CustomersDot::Jwt`: a day).
pub const DISCOVERY_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long the key set is kept (15 minutes, as GitLab).
pub const JWKS_TTL: Duration = Duration::from_secs(15 * 60);
/// The least time between two key-set fetches caused by unknown `kid`s, so that tokens naming
/// made-up keys cannot turn every request into a fetch from the portal.
pub const UNKNOWN_KID_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// How long a portal that failed, with nothing held from it, is not asked again.
pub const FAILURE_BACKOFF: Duration = Duration::from_secs(5);

/// Why a CustomersDot token was refused; the client only ever sees a 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomersDotJwtError {
    #[error("the token is not a JWT: {0}")]
    Malformed(String),
    #[error("the token is not signed with RS256")]
    Algorithm,
    #[error("the portal's discovery document or key set could not be fetched: {0}")]
    Unreachable(String),
    #[error("no key of the portal's key set has this kid")]
    UnknownKey,
    #[error("the token was refused: {0}")]
    Invalid(String),
}

/// Reads a JSON document over HTTPS; the HTTP client sits behind this so tests and the local
/// server can point the verifier anywhere.
#[async_trait]
pub trait FetchJson: Send + Sync + 'static {
    async fn fetch_json(&self, url: &str) -> Result<serde_json::Value, String>;
}

#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
    #[serde(default)]
    id_token_signing_alg_values_supported: Option<Vec<String>>,
}

/// What the verifier holds between requests. The lock around it is held across fetches, so
/// that concurrent requests wait for one fetch instead of each making their own (a Lambda
/// instance serves one request at a time anyway).
#[derive(Default)]
struct Cache {
    discovery: Option<(Instant, Discovery)>,
    discovery_failed: Option<Instant>,
    jwks: Option<(Instant, Arc<JwkSet>)>,
    /// The last key-set fetch, whether it succeeded or not.
    jwks_attempted: Option<Instant>,
}

/// The claims GitLab checks; anything else in the token is ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct CustomersDotClaims {
    pub sub: String,
}

pub struct CustomersDotVerifier {
    portal_url: String,
    fetch: Arc<dyn FetchJson>,
    cache: Mutex<Cache>,
}

impl CustomersDotVerifier {
    /// `portal_url` is CustomersDot's base URL (`CUSTOMERS_DOT_URL`); nothing is fetched
    /// until the first token arrives.
    pub fn new(portal_url: &str, fetch: Arc<dyn FetchJson>) -> Self {
        Self {
            portal_url: portal_url.trim_end_matches('/').to_owned(),
            fetch,
            cache: Mutex::new(Cache::default()),
        }
    }

    pub async fn verify(&self, token: &str) -> Result<CustomersDotClaims, CustomersDotJwtError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|err| CustomersDotJwtError::Malformed(err.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(CustomersDotJwtError::Algorithm);
        }
        let discovery = self.discovery().await?;
        if discovery
            .id_token_signing_alg_values_supported
            .as_ref()
            .is_some_and(|algs| !algs.iter().any(|alg| alg == "RS256"))
        {
            return Err(CustomersDotJwtError::Algorithm);
        }
        let key = self
            .decoding_key(&discovery.jwks_uri, header.kid.as_deref())
            .await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[CUSTOMERS_DOT_AUDIENCE]);
        validation.set_issuer(&[discovery.issuer.as_str()]);
        validation.sub = Some(CUSTOMERS_DOT_SUBJECT.to_owned());
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        jsonwebtoken::decode::<CustomersDotClaims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|err| CustomersDotJwtError::Invalid(err.to_string()))
    }

    /// The discovery document: cached for a day; when a refetch fails, the document held is
    /// used a while longer. A failure with nothing held is remembered for a few seconds, so
    /// that a portal that is down is not asked again by every request.
    async fn discovery(&self) -> Result<Discovery, CustomersDotJwtError> {
        let mut cache = self.cache.lock().await;
        if let Some((fetched, discovery)) = &cache.discovery
            && fetched.elapsed() < DISCOVERY_TTL
        {
            return Ok(discovery.clone());
        }
        if cache.discovery.is_none()
            && cache
                .discovery_failed
                .is_some_and(|at| at.elapsed() < FAILURE_BACKOFF)
        {
            return Err(CustomersDotJwtError::Unreachable(
                "the portal failed moments ago".to_owned(),
            ));
        }
        let url = format!("{}/.well-known/openid-configuration", self.portal_url);
        let fetched = self
            .fetch
            .fetch_json(&url)
            .await
            .and_then(|document| {
                serde_json::from_value::<Discovery>(document)
                    .map_err(|err| format!("discovery: {err}"))
            })
            .and_then(|discovery| self.same_origin(&discovery.jwks_uri).map(|()| discovery));
        match (fetched, &cache.discovery) {
            (Ok(discovery), _) => {
                cache.discovery = Some((Instant::now(), discovery.clone()));
                Ok(discovery)
            }
            (Err(err), Some((_, held))) => {
                tracing::warn!(error = %err, "CustomersDot discovery refetch failed; using the document held");
                Ok(held.clone())
            }
            (Err(err), None) => {
                cache.discovery_failed = Some(Instant::now());
                Err(CustomersDotJwtError::Unreachable(err))
            }
        }
    }

    /// The key set must come from the portal itself, over the portal's scheme: a discovery
    /// document that sends us elsewhere (or to plain HTTP) is refused.
    fn same_origin(&self, jwks_uri: &str) -> Result<(), String> {
        let origin = |url: &str| {
            url.parse::<http::Uri>().ok().and_then(|uri| {
                Some((
                    uri.scheme_str()?.to_ascii_lowercase(),
                    uri.authority()?.host().to_ascii_lowercase(),
                ))
            })
        };
        match (origin(&self.portal_url), origin(jwks_uri)) {
            (Some(portal), Some(keys)) if portal == keys => Ok(()),
            _ => Err(format!(
                "jwks_uri {jwks_uri} is not on the portal {}",
                self.portal_url
            )),
        }
    }

    /// The key the token names, from the cached set or, when the set is stale or lacks that
    /// `kid`, from a fresh one. Unknown `kid`s refetch at most once per
    /// [`UNKNOWN_KID_REFETCH_INTERVAL`], counted from the last attempt, failed or not; a set
    /// that cannot be refetched is used a while longer rather than refusing every token.
    async fn decoding_key(
        &self,
        jwks_uri: &str,
        kid: Option<&str>,
    ) -> Result<DecodingKey, CustomersDotJwtError> {
        let mut cache = self.cache.lock().await;
        let fresh = cache
            .jwks
            .as_ref()
            .filter(|(fetched, _)| fetched.elapsed() < JWKS_TTL)
            .map(|(_, set)| Arc::clone(set));
        let set = match fresh {
            Some(set) => set,
            None => self.refetch_jwks(&mut cache, jwks_uri).await?,
        };
        if let Some(key) = find_key(&set, kid)? {
            return Ok(key);
        }
        if cache
            .jwks_attempted
            .is_some_and(|at| at.elapsed() < UNKNOWN_KID_REFETCH_INTERVAL)
        {
            return Err(CustomersDotJwtError::UnknownKey);
        }
        let set = self.refetch_jwks(&mut cache, jwks_uri).await?;
        find_key(&set, kid)?.ok_or(CustomersDotJwtError::UnknownKey)
    }

    /// A fresh key set, or the one held when the portal cannot give one.
    async fn refetch_jwks(
        &self,
        cache: &mut Cache,
        jwks_uri: &str,
    ) -> Result<Arc<JwkSet>, CustomersDotJwtError> {
        if cache.jwks.is_none()
            && cache
                .jwks_attempted
                .is_some_and(|at| at.elapsed() < FAILURE_BACKOFF)
        {
            return Err(CustomersDotJwtError::Unreachable(
                "the portal failed moments ago".to_owned(),
            ));
        }
        cache.jwks_attempted = Some(Instant::now());
        let fetched = self.fetch.fetch_json(jwks_uri).await.and_then(|document| {
            serde_json::from_value::<JwkSet>(document).map_err(|err| format!("key set: {err}"))
        });
        match (fetched, &cache.jwks) {
            (Ok(set), _) => {
                let set = Arc::new(set);
                cache.jwks = Some((Instant::now(), Arc::clone(&set)));
                Ok(set)
            }
            (Err(err), Some((_, held))) => {
                tracing::warn!(error = %err, "CustomersDot key set refetch failed; using the set held");
                Ok(Arc::clone(held))
            }
            (Err(err), None) => Err(CustomersDotJwtError::Unreachable(err)),
        }
    }
}

/// The key with this `kid`; without a `kid`, the set's only key.
fn find_key(set: &JwkSet, kid: Option<&str>) -> Result<Option<DecodingKey>, CustomersDotJwtError> {
    let jwk = match kid {
        Some(kid) => set.find(kid),
        None if set.keys.len() == 1 => set.keys.first(),
        None => None,
    };
    jwk.map(|jwk| {
        DecodingKey::from_jwk(jwk).map_err(|err| CustomersDotJwtError::Invalid(err.to_string()))
    })
    .transpose()
}

type HttpsClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Empty<bytes::Bytes>,
>;

/// [`FetchJson`] over HTTPS (or HTTP, for a portal URL that says so) with the system's trust
/// roots, a deadline per fetch, and a bound on what is read. The client (and the trust roots
/// it reads) is built on the first fetch, so a cold start pays nothing for it.
#[derive(Default)]
pub struct HttpFetch {
    client: std::sync::OnceLock<Result<HttpsClient, String>>,
}

/// A fetch that takes longer fails: the request waiting on it is answered 401 well inside
/// the function's timeout.
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// Discovery documents and key sets are a few KiB.
const FETCH_LIMIT_BYTES: usize = 256 * 1024;

fn https_client() -> Result<HttpsClient, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider)
        .map_err(|err| format!("TLS trust roots: {err}"))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(https),
    )
}

#[async_trait]
impl FetchJson for HttpFetch {
    async fn fetch_json(&self, url: &str) -> Result<serde_json::Value, String> {
        use http_body_util::BodyExt as _;
        let uri: http::Uri = url.parse().map_err(|err| format!("{url}: {err}"))?;
        let client = self
            .client
            .get_or_init(https_client)
            .as_ref()
            .map_err(Clone::clone)?;
        let fetch = async {
            let response = client
                .get(uri)
                .await
                .map_err(|err| format!("{url}: {err}"))?;
            if !response.status().is_success() {
                return Err(format!("{url}: HTTP {}", response.status()));
            }
            let body = http_body_util::Limited::new(response.into_body(), FETCH_LIMIT_BYTES)
                .collect()
                .await
                .map_err(|err| format!("{url}: {err}"))?
                .to_bytes();
            serde_json::from_slice(&body).map_err(|err| format!("{url}: {err}"))
        };
        tokio::time::timeout(FETCH_TIMEOUT, fetch)
            .await
            .map_err(|_| format!("{url}: no answer within {FETCH_TIMEOUT:?}"))?
    }
}
