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
pub const ERROR_TRACKING_PATH: &str = "/api/v4/internal/error_tracking/allowed";
/// The seeded agent's token (agent 7).
pub const AGENT_TOKEN: &str = "agent-token-plaintext";
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
    /// The stand-in for CustomersDot the router verifies its JWTs against.
    pub portal: Arc<Portal>,
    dynamo: Option<DynamoStore>,
}

/// CustomersDot's base URL as the tests configure it (`CUSTOMERS_DOT_URL`).
pub const PORTAL_URL: &str = "https://customers.example.com";
/// The RSA test keys of `shared/auth/tests/fixtures`: A is in the portal's key set, B is not.
pub const PORTAL_KEY_A: &[u8] =
    include_bytes!("../../../shared/auth/tests/fixtures/customers-dot-a.pem");
pub const PORTAL_KEY_B: &[u8] =
    include_bytes!("../../../shared/auth/tests/fixtures/customers-dot-b.pem");
const PORTAL_JWKS: &str =
    include_str!("../../../shared/auth/tests/fixtures/customers-dot-jwks-a.json");

/// A stand-in for CustomersDot: its OpenID discovery document and key set (key A), or
/// nothing at all while `down`.
#[derive(Default)]
pub struct Portal {
    pub down: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl gl_auth::customers_dot::FetchJson for Portal {
    async fn fetch_json(&self, url: &str) -> Result<Value, String> {
        if self.down.load(Ordering::SeqCst) {
            return Err("connection refused".to_owned());
        }
        match url {
            "https://customers.example.com/.well-known/openid-configuration" => {
                Ok(serde_json::json!({
                "issuer": PORTAL_URL,
                "jwks_uri": "https://customers.example.com/oauth/discovery/keys",
                "id_token_signing_alg_values_supported": ["RS256"]}))
            }
            "https://customers.example.com/oauth/discovery/keys" => {
                Ok(serde_json::from_str(PORTAL_JWKS).expect("JWKS fixture"))
            }
            other => Err(format!("404 {other}")),
        }
    }
}

/// CustomersDot's claims, valid for a minute.
pub fn customers_dot_claims() -> Value {
    let now = chrono::Utc::now().timestamp();
    serde_json::json!({"iss": PORTAL_URL, "sub": "customers-dot-internal-api",
        "aud": "gitlab-subscriptions", "iat": now, "exp": now + 60})
}

/// A JWT signed with the test key `pem` (PKCS#1 PEM) under `kid`.
pub fn customers_dot_jwt(pem: &[u8], kid: &str, claims: &Value) -> String {
    use base64::Engine as _;
    let text = std::str::from_utf8(pem).expect("PEM is text");
    let body: String = text
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM body is base64");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_rsa_der(&der),
    )
    .expect("the token signs")
}

/// A good CustomersDot JWT.
pub fn customers_dot_token() -> String {
    customers_dot_jwt(PORTAL_KEY_A, "key-a", &customers_dot_claims())
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

/// A name part no other test of this run or an earlier one has: for tables of their own.
pub fn unique_suffix() -> String {
    format!(
        "{}-{}-{}",
        std::process::id(),
        TABLE_SEQUENCE.fetch_add(1, Ordering::SeqCst),
        chrono::Utc::now().timestamp_micros()
    )
}

/// A table of its own for one test: moto's queries slow down as a table grows.
pub async fn fresh_dynamo_table() -> Option<DynamoStore> {
    let endpoint = dynamo_endpoint()?;
    let table = format!("t{}", unique_suffix());
    let store = DynamoStore::connect(&DynamoConfig {
        table,
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        // moto on a loaded 2-core machine answers a 16,000-UUID scan in seconds.
        timeouts: gl_store::dynamodb::Timeouts::EMULATOR,
        http_client: None,
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
        let portal = Arc::new(Portal::default());
        let state = local_api::state(store, SECRET)
            .with_error_tracking_token(Some(ERROR_TRACKING_TOKEN.as_bytes()))
            .with_kas_secret(Some(KAS_KEY))
            .with_customers_dot(PORTAL_URL, portal.clone());
        // The tests' own reads and writes go through the router's repository, so that a
        // settings change made here is seen by the next request (its cache forgotten).
        let repo = state.repo.clone();
        let router = local_api::app(state);
        Self {
            router,
            counter,
            repo,
            portal,
            dynamo,
        }
    }

    /// The application state over this app's (counting) store.
    pub fn state(&self) -> gl_http::AppState {
        let store: Arc<dyn Store> = self.counter.clone();
        let mut state = local_api::state(store, SECRET).with_kas_secret(Some(KAS_KEY));
        state.repo = self.repo.clone();
        state
    }

    /// The same store behind a shell router whose Gitaly port answers as `ancestry` does.
    pub fn with_ancestry(mut self, ancestry: Arc<dyn shell::gitaly::Ancestry>) -> Self {
        let store: Arc<dyn Store> = self.counter.clone();
        let mut state = local_api::state(store, SECRET);
        state.repo = self.repo.clone();
        self.router = gl_http::with_gitlab_fallbacks(shell::router_with(state, ancestry));
        self
    }

    /// The test world of `fixtures/world.json` on `backend`.
    pub async fn seeded(backend: Backend) -> Option<Self> {
        Some(Self::empty(backend).await?.with_world().await)
    }

    /// This app with the test world of `fixtures/world.json` imported.
    pub async fn with_world(self) -> Self {
        local_api::import_seed_bytes(
            &self.repo,
            WORLD.as_bytes(),
            std::path::Path::new("world.json"),
        )
        .await
        .expect("the test world imports");
        self.repo.forget_settings();
        self.counter.reset();
        self
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        send_to(&self.router, request).await
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
        self.send(shell_post_request(path, content_type, body))
            .await
    }

    /// KAS's call of an endpoint without an agent: a fresh KAS JWT and a JSON body.
    pub async fn kas_post(&self, path: &str, body: &Value) -> TestResponse {
        self.send(kas_request(
            Method::POST,
            path,
            &kas_jwt(),
            None,
            Some(body),
        ))
        .await
    }

    /// KAS's call on behalf of the seeded agent: a fresh KAS JWT, the agent's token, and a
    /// JSON body when given.
    pub async fn agent_send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> TestResponse {
        self.send(kas_request(
            method,
            path,
            &kas_jwt(),
            Some(AGENT_TOKEN),
            body,
        ))
        .await
    }

    /// CustomersDot's call: its JWT in `X-Customers-Dot-Internal-Token`, a JSON body when
    /// given.
    pub async fn as_portal(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> TestResponse {
        self.send(jwt_request(method, path, &customers_dot_token(), body))
            .await
    }

    /// Stores the instance settings with `gitlab_com` as given.
    pub async fn set_gitlab_com(&self, gitlab_com: bool) {
        self.update_settings(|settings| settings.gitlab_com = gitlab_com)
            .await;
    }

    /// Stores the instance settings as `change` leaves them.
    pub async fn update_settings(&self, change: impl FnOnce(&mut gl_model::Settings)) {
        use gl_store::{Condition, Item, WriteOp, keys};
        let mut settings = self.repo.identity().settings().await.unwrap();
        change(&mut settings);
        self.repo
            .store()
            .write(vec![WriteOp::Put {
                item: Item::new(keys::settings(), &settings),
                condition: Condition::None,
            }])
            .await
            .unwrap();
        self.repo.forget_settings();
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

/// A POST as GitLab Shell and Gitaly send it: a fresh JWT, `body` as `content_type`.
pub fn shell_post_request(path: &str, content_type: &str, body: String) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("Content-Type", content_type)
        .header("User-Agent", "GitLab-Shell")
        .header("Gitlab-Shell-Api-Request", jwt_now())
        .body(Body::from(body))
        .expect("request builds")
}

/// A GET as GitLab Shell may send it with its parameters in a body: the JWT and a JSON
/// media type, nothing else.
pub fn shell_get_with_body(path: &str, body: impl Into<Body>) -> Request<Body> {
    Request::get(path)
        .header("Gitlab-Shell-Api-Request", jwt_now())
        .header("Content-Type", "application/json")
        .body(body.into())
        .expect("request builds")
}

pub fn kas_jwt() -> String {
    gl_auth::mint_kas_jwt(KAS_KEY, chrono::Utc::now().timestamp())
}

/// A request as KAS sends it: JWT, agent token when given, JSON body when given (no
/// Content-Type on GET).
pub fn kas_request(
    method: Method,
    path: &str,
    jwt: &str,
    agent: Option<&str>,
    body: Option<&Value>,
) -> Request<Body> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("User-Agent", "gitlab-kas/v17.6.0/abc123")
        .header("Accept", "application/json")
        .header("Gitlab-Kas-Api-Request", jwt);
    if let Some(token) = agent {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(body) => {
            request = request.header("Content-Type", "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    request.body(body).expect("request builds")
}

/// `POST /internal/error_tracking/allowed` as the error-tracking service sends it: the token
/// in its header, a JSON body.
pub fn error_tracking_request(token: &str, body: &Value) -> Request<Body> {
    Request::post(ERROR_TRACKING_PATH)
        .header("Content-Type", "application/json")
        .header("Gitlab-Error-Tracking-Token", token)
        .body(Body::from(body.to_string()))
        .expect("request builds")
}

/// An admin API call: `PRIVATE-TOKEN` when given, no body.
pub fn private_token_request(path: &str, token: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header("PRIVATE-TOKEN", token);
    }
    request.body(Body::empty()).expect("request builds")
}

/// Where an admin call puts its personal access token.
#[derive(Debug, Clone, Copy)]
pub enum Presented<'a> {
    Nothing,
    /// `PRIVATE-TOKEN: <token>`
    Header(&'a str),
    /// `Authorization: Bearer <token>`
    Bearer(&'a str),
    /// `?private_token=<token>`
    Param(&'a str),
}

/// An admin API call as the GitLab.com Admin Area or CustomersDot sends it: the token where
/// `token` says, a JSON body when given.
pub fn admin_request(
    method: Method,
    path: &str,
    token: Presented<'_>,
    body: Option<&Value>,
) -> Request<Body> {
    let uri = match token {
        Presented::Param(token) => {
            let separator = if path.contains('?') { '&' } else { '?' };
            format!("{path}{separator}private_token={token}")
        }
        _ => path.to_owned(),
    };
    let mut request = Request::builder().method(method).uri(uri);
    match token {
        Presented::Header(token) => request = request.header("PRIVATE-TOKEN", token),
        Presented::Bearer(token) => {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        Presented::Nothing | Presented::Param(_) => {}
    }
    let body = match body {
        Some(body) => {
            request = request.header("Content-Type", "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    request.body(body).expect("request builds")
}

/// A request as CustomersDot sends it: `token` in `X-Customers-Dot-Internal-Token`.
pub fn jwt_request(method: Method, path: &str, token: &str, body: Option<&Value>) -> Request<Body> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("X-Customers-Dot-Internal-Token", token);
    let body = match body {
        Some(body) => {
            request = request.header("Content-Type", "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    request.body(body).expect("request builds")
}

/// One request through `router`, its answer read whole.
pub async fn send_to(router: &Router, request: Request<Body>) -> TestResponse {
    crate::captured_logs::capture();
    let response = router
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
    crate::captured_logs::assert_no_secret_logged();
    TestResponse {
        status,
        headers,
        text: String::from_utf8(bytes.to_vec()).expect("UTF-8 body"),
    }
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
        self.assert_media_type("application/json");
    }

    /// Status, JSON media type and exact body bytes, the body pinned in
    /// `snapshots/{name}.snap`: one file per wire answer, which both backends compare against.
    /// Under `CI=true` a missing or different snapshot fails. To pin a new or changed body, run
    /// `INSTA_UPDATE=always cargo test -p api-tests -- --test-threads=1` (one writer per file)
    /// and read the diff of `snapshots/`.
    #[track_caller]
    pub fn assert_snapshot(&self, status: u16, name: &str) {
        self.assert_snapshot_as(status, name, "application/json");
    }

    /// [`Self::assert_snapshot`] of a SCIM answer (`application/scim+json`).
    #[track_caller]
    pub fn assert_scim_snapshot(&self, status: u16, name: &str) {
        self.assert_snapshot_as(status, name, "application/scim+json");
    }

    #[track_caller]
    fn assert_snapshot_as(&self, status: u16, name: &str, media_type: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "status for snapshot {name}: {}",
            self.text
        );
        self.assert_media_type(media_type);
        // insta trims trailing whitespace and turns CRLF into LF before comparing; a body
        // free of both compares byte for byte.
        assert!(
            self.text.trim() == self.text && !self.text.contains('\r'),
            "body not pinnable byte for byte: {:?}",
            self.text
        );
        insta::with_settings!({prepend_module_to_snapshot => false, omit_expression => true}, {
            insta::assert_snapshot!(name, self.text.as_str());
        });
    }

    /// [`Self::assert_snapshot`] inside a loop: a failure names `case` too.
    #[track_caller]
    pub fn assert_snapshot_for(&self, status: u16, name: &str, case: impl std::fmt::Display) {
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.assert_snapshot(status, name)
        }));
        if let Err(panic) = checked {
            eprintln!("the failing case: {case}");
            std::panic::resume_unwind(panic);
        }
    }

    #[track_caller]
    fn assert_media_type(&self, media_type: &str) {
        let content_type = self
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert_eq!(content_type, media_type, "content type of {}", self.text);
    }
}

/// Runs each named `async fn(app: TestApp)` on the embedded store and on DynamoDB (moto), as
/// the tests `<name>::embedded` and `<name>::dynamodb`: on the seeded test world, or with
/// `unseeded:` on an empty store.
macro_rules! on_both_backends {
    (unseeded: $($name:ident),+ $(,)?) => {
        $crate::support::on_both_backends!(@tests empty; $($name),+);
    };
    (@tests $start:ident; $($name:ident),+) => {$(
        mod $name {
            #[tokio::test]
            async fn embedded() {
                let backend = $crate::support::Backend::Embedded;
                let app = $crate::support::TestApp::$start(backend).await;
                super::$name(app.expect("embedded store")).await;
            }

            #[tokio::test]
            async fn dynamodb() {
                let backend = $crate::support::Backend::Dynamo;
                if let Some(app) = $crate::support::TestApp::$start(backend).await {
                    super::$name(app).await;
                }
            }
        }
    )+};
    ($($name:ident),+ $(,)?) => {
        $crate::support::on_both_backends!(@tests seeded; $($name),+);
    };
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

/// An active token with `scopes` for user `user_id`, stored directly: for users the test world
/// gives no key, whom `/personal_access_token` (which wants a key) would refuse.
pub async fn user_personal_access_token(
    app: &TestApp,
    user_id: i64,
    scopes: serde_json::Value,
) -> String {
    static NEXT_ID: AtomicU64 = AtomicU64::new(10_000);
    let id = NEXT_ID.fetch_add(1, Ordering::SeqCst) as i64;
    let plaintext = format!("glpat-test-{user_id}-{id}");
    let token = gl_model::PersonalAccessToken {
        id,
        user_id,
        name: "t".to_owned(),
        token_digest: gl_auth::token_digest(&plaintext),
        scopes: serde_json::from_value(scopes).unwrap(),
        expires_at: Some("2099-12-31".to_owned()),
        revoked: false,
        created_at: "2026-01-01T00:00:00.000Z".to_owned(),
    };
    app.repo
        .identity()
        .create_personal_access_token(&token)
        .await
        .unwrap();
    plaintext
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

/// What a concurrent writer does just before each of the service's writes: `ops` are the
/// write about to go out, `store` the store it goes to.
#[async_trait::async_trait]
pub trait BeforeEachWrite: Send + Sync + 'static {
    async fn before(
        &self,
        store: &dyn Store,
        ops: &[gl_store::WriteOp],
    ) -> Result<(), gl_store::StoreError>;
}

/// The same store (and table) as a test app's, with a concurrent writer meddling before
/// each write: for races a test cannot time.
pub struct Meddled<H> {
    store: Arc<CountingStore>,
    hook: H,
}

impl<H: BeforeEachWrite> Meddled<H> {
    /// A router over `app`'s store whose every write meets `hook` first.
    pub fn app(app: &TestApp, hook: H) -> TestApp {
        let store = Meddled {
            store: app.counter.clone(),
            hook,
        };
        TestApp::over(Arc::new(store), None)
    }
}

#[async_trait::async_trait]
impl<H: BeforeEachWrite> Store for Meddled<H> {
    async fn get_many(
        &self,
        keys: &[gl_store::Key],
    ) -> Result<Vec<Option<gl_store::Item>>, gl_store::StoreError> {
        self.store.get_many(keys).await
    }

    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<gl_store::Page, gl_store::StoreError> {
        self.store.query(pk, sk_prefix, start_after, limit).await
    }

    async fn write(&self, ops: Vec<gl_store::WriteOp>) -> Result<(), gl_store::StoreError> {
        self.hook.before(self.store.as_ref(), &ops).await?;
        self.store.write(ops).await
    }

    async fn scan(
        &self,
        after: Option<&gl_store::Key>,
        limit: usize,
    ) -> Result<gl_store::ScanPage, gl_store::StoreError> {
        self.store.scan(after, limit).await
    }

    async fn ping(&self) -> Result<(), gl_store::StoreError> {
        self.store.ping().await
    }
}
