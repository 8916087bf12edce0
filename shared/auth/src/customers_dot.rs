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

#[derive(Default)]
struct Cache {
    discovery: Option<(Instant, Discovery)>,
    jwks: Option<(Instant, Arc<JwkSet>)>,
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
        jsonwebtoken::decode::<CustomersDotClaims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|err| CustomersDotJwtError::Invalid(err.to_string()))
    }

    async fn discovery(&self) -> Result<Discovery, CustomersDotJwtError> {
        let mut cache = self.cache.lock().await;
        if let Some((fetched, discovery)) = &cache.discovery
            && fetched.elapsed() < DISCOVERY_TTL
        {
            return Ok(discovery.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.portal_url);
        let document = self
            .fetch
            .fetch_json(&url)
            .await
            .map_err(CustomersDotJwtError::Unreachable)?;
        let discovery: Discovery = serde_json::from_value(document)
            .map_err(|err| CustomersDotJwtError::Unreachable(format!("discovery: {err}")))?;
        cache.discovery = Some((Instant::now(), discovery.clone()));
        Ok(discovery)
    }

    /// The key the token names, from the cached set or, when the set is stale or lacks that
    /// `kid`, from a fresh one.
    async fn decoding_key(
        &self,
        jwks_uri: &str,
        kid: Option<&str>,
    ) -> Result<DecodingKey, CustomersDotJwtError> {
        let mut cache = self.cache.lock().await;
        let cached = cache
            .jwks
            .as_ref()
            .filter(|(fetched, _)| fetched.elapsed() < JWKS_TTL)
            .map(|(fetched, set)| (*fetched, Arc::clone(set)));
        let (fetched, set) = match cached {
            Some(found) => found,
            None => self.fetch_jwks(&mut cache, jwks_uri).await?,
        };
        if let Some(key) = find_key(&set, kid)? {
            return Ok(key);
        }
        if fetched.elapsed() < UNKNOWN_KID_REFETCH_INTERVAL {
            return Err(CustomersDotJwtError::UnknownKey);
        }
        let (_, set) = self.fetch_jwks(&mut cache, jwks_uri).await?;
        find_key(&set, kid)?.ok_or(CustomersDotJwtError::UnknownKey)
    }

    async fn fetch_jwks(
        &self,
        cache: &mut Cache,
        jwks_uri: &str,
    ) -> Result<(Instant, Arc<JwkSet>), CustomersDotJwtError> {
        let document = self
            .fetch
            .fetch_json(jwks_uri)
            .await
            .map_err(CustomersDotJwtError::Unreachable)?;
        let set: JwkSet = serde_json::from_value(document)
            .map_err(|err| CustomersDotJwtError::Unreachable(format!("key set: {err}")))?;
        let fetched = (Instant::now(), Arc::new(set));
        cache.jwks = Some(fetched.clone());
        Ok(fetched)
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
