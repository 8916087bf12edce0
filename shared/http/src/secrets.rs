//! Secrets that can change while a function runs. In AWS they are read from Secrets Manager at
//! run time (never from the function's configuration, which `lambda:GetFunctionConfiguration`
//! shows to anyone allowed to read it), kept for a bounded time, and read again, so a rotation
//! takes effect without a deploy. During a rotation window the previous value is accepted too:
//! GitLab Shell, Gitaly and KAS pick up a new secret only when they restart, and tokens they
//! minted with the old one are still in flight. The local server and tests use fixed values.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;

/// A version of a secret, as Secrets Manager labels them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Current,
    Previous,
}

impl Stage {
    fn label(self) -> &'static str {
        match self {
            Self::Current => "AWSCURRENT",
            Self::Previous => "AWSPREVIOUS",
        }
    }
}

/// One version of a secret as fetched.
#[derive(Clone, PartialEq, Eq)]
pub struct Fetched {
    pub value: Vec<u8>,
    /// When this version was created: a previous version is accepted for the rotation window
    /// after its successor was.
    pub created: SystemTime,
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched")
            .field("value", &"<redacted>")
            .field("created", &self.created)
            .finish()
    }
}

/// Where a secret's versions come from.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The version at `stage`; `Ok(None)` when there is none (a secret never rotated has no
    /// previous version).
    async fn fetch(&self, stage: Stage) -> Result<Option<Fetched>, String>;

    /// What the source is, for log lines (an ARN, never a value).
    fn describe(&self) -> String;
}

/// The values a credential is checked against: the current one, and the previous one while
/// the rotation window lasts.
#[derive(Debug)]
pub struct Keys<T> {
    pub current: T,
    previous: Option<(T, SystemTime)>,
}

impl<T> Keys<T> {
    /// The previous value, while its window lasts.
    pub fn previous(&self) -> Option<&T> {
        self.previous
            .as_ref()
            .filter(|(_, until)| SystemTime::now() < *until)
            .map(|(previous, _)| previous)
    }

    /// `check` with the current value, then (when that fails) with the previous one; the
    /// current value's failure is the one reported.
    pub fn check<E>(&self, check: impl Fn(&T) -> Result<(), E>) -> Result<(), E> {
        match check(&self.current) {
            Ok(()) => Ok(()),
            Err(err) => match self.previous() {
                Some(previous) if check(previous).is_ok() => Ok(()),
                _ => Err(err),
            },
        }
    }
}

/// How long values are kept and how long a previous one is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// How long a fetched secret is used before it is fetched again.
    pub cache: Duration,
    /// How long after a new version was created the previous one is still accepted.
    pub window: Duration,
}

impl Default for Rotation {
    fn default() -> Self {
        Self {
            cache: Duration::from_secs(60),
            window: Duration::from_secs(3600),
        }
    }
}

/// After a failed fetch with a value still held, how long that value is used before the next
/// attempt (so a broken source costs one attempt per interval, not one per request).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

struct Held<T> {
    keys: Arc<Keys<T>>,
    refresh_at: Option<Instant>,
}

/// A secret turned into what checks credentials (`T`: a JWT verifier, a token), fetched again
/// once [`Rotation::cache`] has passed.
pub struct Rotating<T> {
    source: Option<Box<dyn SecretSource>>,
    parse: fn(Vec<u8>) -> Result<T, String>,
    rotation: Rotation,
    held: RwLock<Option<Held<T>>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl<T> std::fmt::Debug for Rotating<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rotating")
            .field(
                "source",
                &self.source.as_ref().map(|source| source.describe()),
            )
            .field("rotation", &self.rotation)
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync> Rotating<T> {
    /// A value that never changes (the local server's files, tests).
    pub fn fixed(value: T) -> Self {
        Self {
            source: None,
            parse: |_| Err("a fixed secret is never parsed".to_owned()),
            rotation: Rotation::default(),
            held: RwLock::new(Some(Held {
                keys: Arc::new(Keys {
                    current: value,
                    previous: None,
                }),
                refresh_at: None,
            })),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// A secret read from `source` when first needed and again after `rotation.cache`, each
    /// version turned into a `T` by `parse` (a version it refuses is never used).
    pub fn fetched(
        source: Box<dyn SecretSource>,
        parse: fn(Vec<u8>) -> Result<T, String>,
        rotation: Rotation,
    ) -> Self {
        Self {
            source: Some(source),
            parse,
            rotation,
            held: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    fn fresh(&self) -> Option<Arc<Keys<T>>> {
        let held = self.held.read().unwrap_or_else(PoisonError::into_inner);
        held.as_ref()
            .filter(|held| held.refresh_at.is_none_or(|at| Instant::now() < at))
            .map(|held| Arc::clone(&held.keys))
    }

    fn keep(&self, keys: Option<Arc<Keys<T>>>, refresh_in: Duration) -> Option<Arc<Keys<T>>> {
        let mut held = self.held.write().unwrap_or_else(PoisonError::into_inner);
        let keys = keys.or_else(|| held.as_ref().map(|held| Arc::clone(&held.keys)))?;
        *held = Some(Held {
            keys: Arc::clone(&keys),
            refresh_at: Some(Instant::now() + refresh_in),
        });
        Some(keys)
    }

    /// The values to check a credential against: held ones while fresh, otherwise fetched
    /// (one fetch at a time; concurrent callers wait for it). When a fetch fails, the values
    /// held before are used a while longer; `Err` only when there are none.
    pub async fn keys(&self) -> Result<Arc<Keys<T>>, String> {
        if let Some(keys) = self.fresh() {
            return Ok(keys);
        }
        let Some(source) = &self.source else {
            return Err("no secret".to_owned());
        };
        let _one_fetch = self.refreshing.lock().await;
        if let Some(keys) = self.fresh() {
            return Ok(keys);
        }
        match self.fetch(source.as_ref()).await {
            Ok(keys) => Ok(self
                .keep(Some(Arc::new(keys)), self.rotation.cache)
                .expect("kept")),
            Err(reason) => {
                let source = source.describe();
                match self.keep(None, RETRY_AFTER_FAILURE) {
                    Some(stale) => {
                        tracing::error!(%source, %reason, "secret not refreshed; the values held are used");
                        Ok(stale)
                    }
                    None => {
                        tracing::error!(%source, %reason, "secret unavailable");
                        Err(reason)
                    }
                }
            }
        }
    }

    async fn fetch(&self, source: &dyn SecretSource) -> Result<Keys<T>, String> {
        let (current, previous) =
            tokio::join!(source.fetch(Stage::Current), source.fetch(Stage::Previous));
        let current = current?.ok_or("the secret has no current version")?;
        let previous = match previous {
            Ok(previous) => previous,
            Err(reason) => {
                // The current version alone still authenticates every up-to-date client.
                tracing::warn!(source = %source.describe(), %reason, "previous secret version not read");
                None
            }
        };
        let until = current.created + self.rotation.window;
        let previous = match previous {
            Some(previous) if SystemTime::now() < until && previous.value != current.value => {
                match (self.parse)(previous.value) {
                    Ok(parsed) => Some((parsed, until)),
                    Err(reason) => {
                        tracing::warn!(source = %source.describe(), %reason, "previous secret version refused");
                        None
                    }
                }
            }
            _ => None,
        };
        let current = (self.parse)(current.value)
            .map_err(|reason| format!("the current version is refused: {reason}"))?;
        Ok(Keys { current, previous })
    }
}

/// Secrets Manager through the AWS Parameters and Secrets Lambda Extension: a local HTTP
/// server beside the function that signs and sends `GetSecretValue` for it, so the function
/// carries no Secrets Manager client (no SDK, no second TLS stack: a few KiB of binary).
pub struct ExtensionSource {
    secret_id: String,
    port: u16,
    session_token: String,
    client: std::sync::OnceLock<ExtensionClient>,
}

type ExtensionClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Empty<bytes::Bytes>,
>;

/// The extension answers from memory or after one call to Secrets Manager.
const EXTENSION_TIMEOUT: Duration = Duration::from_secs(2);
/// A secret is at most 64 KiB; its JSON envelope a little more.
const EXTENSION_LIMIT_BYTES: usize = 128 * 1024;

impl ExtensionSource {
    /// `secret_id` (an ARN); the extension's port (`PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`,
    /// default 2773) and the function's `AWS_SESSION_TOKEN`, which the extension requires.
    pub fn new(secret_id: String, port: u16, session_token: String) -> Self {
        Self {
            secret_id,
            port,
            session_token,
            client: std::sync::OnceLock::new(),
        }
    }

    fn uri(&self, stage: Stage) -> Result<http::Uri, String> {
        let query = serde_urlencoded::to_string([
            ("secretId", self.secret_id.as_str()),
            ("versionStage", stage.label()),
        ])
        .map_err(|err| err.to_string())?;
        format!("http://localhost:{}/secretsmanager/get?{query}", self.port)
            .parse()
            .map_err(|err: http::uri::InvalidUri| err.to_string())
    }
}

/// The part of `GetSecretValue`'s answer that matters here.
#[derive(serde::Deserialize)]
struct SecretValue {
    #[serde(rename = "SecretString")]
    secret_string: Option<String>,
    /// Seconds since the epoch, fractional.
    #[serde(rename = "CreatedDate")]
    created_date: Option<f64>,
}

#[async_trait]
impl SecretSource for ExtensionSource {
    async fn fetch(&self, stage: Stage) -> Result<Option<Fetched>, String> {
        use http_body_util::BodyExt as _;
        let client = self.client.get_or_init(|| {
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http()
        });
        let request = http::Request::get(self.uri(stage)?)
            .header("X-Aws-Parameters-Secrets-Token", &self.session_token)
            .body(http_body_util::Empty::new())
            .map_err(|err| err.to_string())?;
        let fetch = async {
            let response = client
                .request(request)
                .await
                .map_err(|err| format!("extension: {err}"))?;
            let status = response.status();
            let body = http_body_util::Limited::new(response.into_body(), EXTENSION_LIMIT_BYTES)
                .collect()
                .await
                .map_err(|err| format!("extension: {err}"))?
                .to_bytes();
            Ok::<_, String>((status, body))
        };
        let (status, body) = tokio::time::timeout(EXTENSION_TIMEOUT, fetch)
            .await
            .map_err(|_| format!("extension: no answer within {EXTENSION_TIMEOUT:?}"))??;
        if !status.is_success() {
            // A secret never rotated has no AWSPREVIOUS: Secrets Manager's
            // ResourceNotFoundException, which the extension answers as a client error.
            if stage == Stage::Previous && status.is_client_error() {
                return Ok(None);
            }
            return Err(format!("extension: HTTP {status} for {}", stage.label()));
        }
        let value: SecretValue = serde_json::from_slice(&body)
            .map_err(|err| format!("extension: {} answer: {err}", stage.label()))?;
        let secret = value
            .secret_string
            .ok_or_else(|| format!("{} has no SecretString", stage.label()))?;
        let created = value
            .created_date
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
            .map(|seconds| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(seconds))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        Ok(Some(Fetched {
            value: secret.into_bytes(),
            created,
        }))
    }

    fn describe(&self) -> String {
        self.secret_id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A source whose versions the test sets, counting fetches.
    #[derive(Default)]
    struct Versions {
        current: Mutex<Option<Fetched>>,
        previous: Mutex<Option<Fetched>>,
        broken: Mutex<bool>,
        fetches: AtomicUsize,
    }

    #[async_trait]
    impl SecretSource for Arc<Versions> {
        async fn fetch(&self, stage: Stage) -> Result<Option<Fetched>, String> {
            if stage == Stage::Current {
                self.fetches.fetch_add(1, Ordering::SeqCst);
            }
            if *self.broken.lock().unwrap() {
                return Err("source down".to_owned());
            }
            Ok(match stage {
                Stage::Current => self.current.lock().unwrap().clone(),
                Stage::Previous => self.previous.lock().unwrap().clone(),
            })
        }

        fn describe(&self) -> String {
            "test-secret".to_owned()
        }
    }

    fn version(value: &str, age: Duration) -> Option<Fetched> {
        Some(Fetched {
            value: value.as_bytes().to_vec(),
            created: SystemTime::now() - age,
        })
    }

    fn rotating(versions: &Arc<Versions>, cache: Duration) -> Rotating<String> {
        Rotating::fetched(
            Box::new(Arc::clone(versions)),
            |bytes| String::from_utf8(bytes).map_err(|err| err.to_string()),
            Rotation {
                cache,
                window: Duration::from_secs(3600),
            },
        )
    }

    fn accepts(keys: &Keys<String>, value: &str) -> bool {
        keys.check(|key| if key == value { Ok(()) } else { Err(()) })
            .is_ok()
    }

    #[tokio::test]
    async fn a_rotation_takes_effect_once_the_cache_time_has_passed() {
        let versions = Arc::new(Versions::default());
        *versions.current.lock().unwrap() = version("one", Duration::from_secs(86_400));
        let kept = rotating(&versions, Duration::from_secs(3600));
        let refetched = rotating(&versions, Duration::ZERO);
        assert!(accepts(&kept.keys().await.unwrap(), "one"));
        assert!(accepts(&refetched.keys().await.unwrap(), "one"));

        *versions.previous.lock().unwrap() = versions.current.lock().unwrap().clone();
        *versions.current.lock().unwrap() = version("two", Duration::from_secs(60));
        let keys = kept.keys().await.unwrap();
        assert!(
            accepts(&keys, "one") && !accepts(&keys, "two"),
            "still cached"
        );
        let keys = refetched.keys().await.unwrap();
        assert!(accepts(&keys, "two"), "the new version");
        assert!(accepts(&keys, "one"), "the previous one, inside the window");
        assert!(!accepts(&keys, "three"));
    }

    #[tokio::test]
    async fn the_previous_version_is_refused_after_the_window() {
        let versions = Arc::new(Versions::default());
        *versions.previous.lock().unwrap() = version("one", Duration::from_secs(90_000));
        *versions.current.lock().unwrap() = version("two", Duration::from_secs(3601));
        let keys = rotating(&versions, Duration::ZERO).keys().await.unwrap();
        assert!(accepts(&keys, "two"));
        assert!(!accepts(&keys, "one"));
    }

    #[tokio::test]
    async fn a_failed_fetch_keeps_what_was_held_and_is_not_retried_per_request() {
        let versions = Arc::new(Versions::default());
        let secret = rotating(&versions, Duration::ZERO);
        *versions.broken.lock().unwrap() = true;
        assert_eq!(secret.keys().await.unwrap_err(), "source down");

        *versions.broken.lock().unwrap() = false;
        *versions.current.lock().unwrap() = version("one", Duration::from_secs(60));
        assert!(accepts(&secret.keys().await.unwrap(), "one"));
        *versions.broken.lock().unwrap() = true;
        let fetches = versions.fetches.load(Ordering::SeqCst);
        for _ in 0..10 {
            assert!(accepts(&secret.keys().await.unwrap(), "one"));
        }
        assert_eq!(versions.fetches.load(Ordering::SeqCst), fetches + 1);
    }

    #[tokio::test]
    async fn a_version_the_parser_refuses_is_never_used() {
        let versions = Arc::new(Versions::default());
        *versions.current.lock().unwrap() = Some(Fetched {
            value: vec![0xff, 0xfe],
            created: SystemTime::now(),
        });
        let secret = rotating(&versions, Duration::ZERO);
        let reason = secret.keys().await.unwrap_err();
        assert!(
            reason.starts_with("the current version is refused"),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch() {
        let versions = Arc::new(Versions::default());
        *versions.current.lock().unwrap() = version("one", Duration::from_secs(60));
        let secret = Arc::new(rotating(&versions, Duration::from_secs(60)));
        let callers: Vec<_> = (0..16)
            .map(|_| {
                let secret = Arc::clone(&secret);
                tokio::spawn(async move { secret.keys().await.map(|_| ()) })
            })
            .collect();
        for caller in callers {
            caller.await.unwrap().unwrap();
        }
        assert_eq!(versions.fetches.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn fetched_versions_never_print_their_value() {
        let fetched = version("hunter2-secret", Duration::ZERO).unwrap();
        assert!(!format!("{fetched:?}").contains("hunter2"));
    }
}
