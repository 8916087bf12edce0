//! The harness: the whole API as one router over a chosen backend, the seeded test world, and
//! request helpers that speak like GitLab Shell.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use gl_store::dynamodb::{DynamoConfig, DynamoStore};
use gl_store::embedded::EmbeddedStore;
use gl_store::{CountingStore, Repository, Store};

pub const SECRET: &[u8] = b"default-secret-content";
pub const ERROR_TRACKING_TOKEN: &str = "opstrace-token";
/// The decoded KAS secret (32 bytes).
pub const KAS_KEY: &[u8; 32] = b"0123456789abcdef0123456789abcdef";
pub const WORLD: &str = include_str!("../../fixtures/world.json");

/// The environment variable naming the DynamoDB-compatible server (moto) for the tests.
pub const ENDPOINT_VARIABLE: &str = "DYNAMODB_TEST_ENDPOINT";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Dynamo,
}

pub struct TestApp {
    pub router: Router,
    pub counter: Arc<CountingStore>,
    pub repo: Repository,
    dynamo: Option<DynamoStore>,
}

static TABLE_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// The moto endpoint, or `None` when the DynamoDB half of the suite cannot run here. Under
/// `CI=true` a missing endpoint fails the test loudly instead.
pub fn dynamo_endpoint() -> Option<String> {
    match std::env::var(ENDPOINT_VARIABLE) {
        Ok(endpoint) if !endpoint.is_empty() => Some(endpoint),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "{ENDPOINT_VARIABLE} is not set: CI must run the DynamoDB suite (see infra/test.sh)"
            )
        }
        _ => {
            eprintln!(
                "{ENDPOINT_VARIABLE} is not set: this DynamoDB test did nothing (infra/test.sh sets it)"
            );
            None
        }
    }
}

/// A table of its own for one test: moto's queries slow down as a table grows.
pub async fn fresh_dynamo_table() -> Option<DynamoStore> {
    let endpoint = dynamo_endpoint()?;
    let table = format!(
        "t{}-{}-{}",
        std::process::id(),
        TABLE_SEQUENCE.fetch_add(1, Ordering::SeqCst),
        chrono::Utc::now().timestamp_micros()
    );
    let store = DynamoStore::connect(&DynamoConfig {
        table,
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
    })
    .await;
    store
        .create_table_if_missing()
        .await
        .expect("moto creates the table");
    Some(store)
}

impl TestApp {
    /// An empty store on `backend`; `None` only when DynamoDB is not configured outside CI.
    pub async fn empty(backend: Backend) -> Option<Self> {
        let (inner, dynamo): (Arc<dyn Store>, Option<DynamoStore>) = match backend {
            Backend::Embedded => (Arc::new(EmbeddedStore::in_memory()), None),
            Backend::Dynamo => {
                let store = fresh_dynamo_table().await?;
                (Arc::new(store.clone()), Some(store))
            }
        };
        Some(Self::over(inner, dynamo))
    }

    pub fn over(inner: Arc<dyn Store>, dynamo: Option<DynamoStore>) -> Self {
        let counter = Arc::new(CountingStore::new(inner));
        let store: Arc<dyn Store> = counter.clone();
        let repo = Repository::new(Arc::clone(&store));
        let state = local_api::state(store, SECRET)
            .with_error_tracking_token(Some(ERROR_TRACKING_TOKEN.as_bytes()))
            .with_kas_secret(Some(KAS_KEY));
        let router = local_api::app(state);
        Self {
            router,
            counter,
            repo,
            dynamo,
        }
    }

    /// The application state over this app's (counting) store.
    pub fn state(&self) -> gl_http::AppState {
        let store: Arc<dyn Store> = self.counter.clone();
        local_api::state(store, SECRET).with_kas_secret(Some(KAS_KEY))
    }

    /// The same store behind a shell router whose Gitaly port answers as `ancestry` does.
    pub fn with_ancestry(mut self, ancestry: Arc<dyn shell::gitaly::Ancestry>) -> Self {
        let store: Arc<dyn Store> = self.counter.clone();
        self.router = gl_http::finish(shell::router_with(
            local_api::state(store, SECRET),
            ancestry,
        ));
        self
    }

    /// The test world of `fixtures/world.json` on `backend`.
    pub async fn seeded(backend: Backend) -> Option<Self> {
        let app = Self::empty(backend).await?;
        local_api::import_seed_bytes(
            &app.repo,
            WORLD.as_bytes(),
            std::path::Path::new("world.json"),
        )
        .await
        .expect("the test world imports");
        app.counter.reset();
        Some(app)
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("routers are infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body reads")
            .to_bytes();
        TestResponse {
            status,
            headers,
            text: String::from_utf8(bytes.to_vec()).expect("UTF-8 body"),
        }
    }

    /// A request as GitLab Shell sends it: a fresh JWT, `Content-Type: application/json` even
    /// without a body, `User-Agent: GitLab-Shell` twice, `Connection: close`.
    pub async fn shell_get(&self, path_and_query: &str) -> TestResponse {
        self.send(shell_request(Method::GET, path_and_query, &jwt_now()))
            .await
    }

    /// A POST with a JSON body, as GitLab Shell and Gitaly send it.
    pub async fn shell_post(&self, path: &str, body: &serde_json::Value) -> TestResponse {
        self.shell_post_raw(path, "application/json", body.to_string())
            .await
    }

    pub async fn shell_post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: String,
    ) -> TestResponse {
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("Content-Type", content_type)
            .header("User-Agent", "GitLab-Shell")
            .header("Gitlab-Shell-Api-Request", jwt_now())
            .body(Body::from(body))
            .expect("request builds");
        self.send(request).await
    }

    /// Round trips made since the last reset, then reset.
    pub fn take_round_trips(&self) -> u64 {
        let n = self.counter.round_trips();
        self.counter.reset();
        n
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(store) = self.dynamo.take() {
            // Best effort: tables die with the moto process anyway.
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = store.delete_table().await;
                });
            }
        }
    }
}

pub fn jwt_now() -> String {
    gl_auth::mint_shell_jwt(SECRET, chrono::Utc::now().timestamp(), 60)
}

pub fn shell_request(method: Method, path_and_query: &str, token: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path_and_query)
        .header("Content-Type", "application/json")
        .header("User-Agent", "GitLab-Shell")
        .header("User-Agent", "GitLab-Shell")
        .header("Connection", "close")
        .header("X-Request-Id", "01JCORRELATION")
        .header("Gitlab-Shell-Api-Request", token)
        .body(Body::empty())
        .expect("request builds")
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {:?}", self.text))
    }

    /// Status, JSON media type and exact body bytes, all at once.
    #[track_caller]
    pub fn assert(&self, status: u16, body: &str) {
        assert_eq!((self.status.as_u16(), self.text.as_str()), (status, body));
        let content_type = self
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert_eq!(content_type, "application/json", "content type of {body}");
    }
}

/// Runs the same test body on the embedded store and on DynamoDB (moto).
macro_rules! on_both_backends {
    ($(async fn $name:ident($app:ident: TestApp) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($app: $crate::support::TestApp) $body

            #[tokio::test]
            async fn embedded() {
                run($crate::support::TestApp::seeded($crate::support::Backend::Embedded).await.expect("embedded store")).await;
            }

            #[tokio::test]
            async fn dynamodb() {
                if let Some(app) = $crate::support::TestApp::seeded($crate::support::Backend::Dynamo).await {
                    run(app).await;
                }
            }
        }
    )*};
}
pub(crate) use on_both_backends;

/// A personal access token made the way GitLab Shell makes one (`/personal_access_token`),
/// for the actor `actor` names (`{"key_id": ...}` or `{"user_id": ...}`).
pub async fn personal_access_token(
    app: &TestApp,
    actor: serde_json::Value,
    scopes: serde_json::Value,
) -> String {
    let mut body = actor;
    body["name"] = serde_json::json!("t");
    body["scopes"] = scopes;
    let created = app
        .shell_post("/api/v4/internal/personal_access_token", &body)
        .await
        .json();
    created["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned()
}

/// A token stored directly, in states the API cannot produce (expired, revoked, a blocked
/// user's), with the `api` and `k8s_proxy` scopes.
pub async fn stored_personal_access_token(
    app: &TestApp,
    plaintext: &str,
    user_id: i64,
    expires_at: &str,
    revoked: bool,
) {
    use gl_store::{Condition, Item, WriteOp, keys};
    let digest = gl_auth::token_digest(plaintext);
    let token = serde_json::json!({"id": 900, "user_id": user_id, "name": "old", "token_digest": digest,
        "scopes": ["api", "k8s_proxy"], "expires_at": expires_at, "revoked": revoked,
        "created_at": "2024-01-01T00:00:00.000Z"});
    let item = Item::new(keys::personal_access_token_digest(&digest), &token);
    app.repo
        .store()
        .write(vec![WriteOp::Put {
            item,
            condition: Condition::None,
        }])
        .await
        .unwrap();
}
