//! The `shell` function as deployed: its GitLab Shell secret read from Secrets Manager through
//! the Parameters and Secrets extension (a stand-in here), kept for the cache time, the
//! previous version accepted during the rotation window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use http_body_util::BodyExt;
use serde_json::json;

use gl_http::config::{Config, Secret};

const ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gitlab-shell-AbCdEf";
const SESSION_TOKEN: &str = "session-token-of-the-function";
const FIRST: &str = "first-secret-0123456789abcdef";
const SECOND: &str = "second-secret-0123456789abcdef";

/// The stand-in extension's versions of the secret: stage label → (value, created seconds).
type Versions = Arc<Mutex<HashMap<String, (String, f64)>>>;

async fn secret_value(
    State(versions): State<Versions>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<axum::Json<serde_json::Value>, StatusCode> {
    if headers
        .get("X-Aws-Parameters-Secrets-Token")
        .is_none_or(|token| token != SESSION_TOKEN)
    {
        return Err(StatusCode::UNAUTHORIZED);
    }
    if query.get("secretId").map(String::as_str) != Some(ARN) {
        return Err(StatusCode::BAD_REQUEST);
    }
    let stage = query.get("versionStage").cloned().unwrap_or_default();
    let versions = versions.lock().unwrap();
    let (value, created) = versions.get(&stage).ok_or(StatusCode::BAD_REQUEST)?;
    Ok(axum::Json(json!({
        "ARN": ARN, "Name": "gitlab-shell", "SecretString": value,
        "CreatedDate": created, "VersionStages": [stage],
    })))
}

/// A stand-in extension on a free port, serving `versions`.
async fn extension(versions: Versions) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new()
        .route("/secretsmanager/get", get(secret_value))
        .with_state(versions);
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The function's router as `main` builds it, from this environment.
async fn function(port: u16, session_token: &str, window_seconds: &str) -> axum::Router {
    let port = port.to_string();
    let variables: HashMap<&str, &str> = HashMap::from([
        ("TABLE_NAME", "gitlab-internal-api"),
        ("DYNAMODB_ENDPOINT", "http://127.0.0.1:9"),
        ("GITLAB_SHELL_SECRET_ARN", ARN),
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", port.as_str()),
        ("AWS_SESSION_TOKEN", session_token),
        ("SECRETS_CACHE_SECONDS", "0"),
        ("SECRET_ROTATION_WINDOW_SECONDS", window_seconds),
    ]);
    let config = Config::from_lookup(&[Secret::Shell], &|name| {
        variables.get(name).map(|value| value.to_string())
    })
    .unwrap();
    assert!(!format!("{config:?}").contains(SESSION_TOKEN));
    let state = gl_http::AppState::for_lambda(&config).await;
    gl_http::with_gitlab_fallbacks(shell::router(state))
}

/// The status and body of `/discover` with a JWT signed with `secret` (a request the JWT
/// check answers before anything is read: no store is reachable here).
async fn discover_with(router: &axum::Router, secret: &str) -> (u16, String) {
    use tower::ServiceExt as _;
    let jwt = gl_auth::mint_shell_jwt(secret.as_bytes(), chrono::Utc::now().timestamp(), 60);
    let request = axum::http::Request::get("/api/v4/internal/discover?username=nobody")
        .header("Gitlab-Shell-Api-Request", jwt)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn authenticated((status, body): (u16, String)) -> bool {
    assert_ne!(status, 500, "{body}");
    status != 401
}

#[tokio::test]
async fn a_rotated_secret_is_used_without_a_deploy_and_the_previous_one_for_a_window() {
    let versions: Versions = Arc::default();
    versions
        .lock()
        .unwrap()
        .insert("AWSCURRENT".into(), (FIRST.into(), now() - 86_400.0));
    let port = extension(versions.clone()).await;
    let router = function(port, SESSION_TOKEN, "3600").await;
    assert!(authenticated(discover_with(&router, FIRST).await));
    assert!(!authenticated(discover_with(&router, SECOND).await));

    // Rotation: Secrets Manager moves AWSCURRENT to the new version, AWSPREVIOUS to the old.
    {
        let mut versions = versions.lock().unwrap();
        versions.insert("AWSPREVIOUS".into(), (FIRST.into(), now() - 86_400.0));
        versions.insert("AWSCURRENT".into(), (SECOND.into(), now()));
    }
    assert!(authenticated(discover_with(&router, SECOND).await));
    assert!(
        authenticated(discover_with(&router, FIRST).await),
        "tokens minted before the rotation still authenticate inside the window"
    );

    // Without a window, only the current version does.
    let strict = function(port, SESSION_TOKEN, "0").await;
    assert!(authenticated(discover_with(&strict, SECOND).await));
    assert!(!authenticated(discover_with(&strict, FIRST).await));
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_is_503_and_says_nothing() {
    let versions: Versions = Arc::default();
    versions
        .lock()
        .unwrap()
        .insert("AWSCURRENT".into(), (FIRST.into(), now()));
    let port = extension(versions).await;
    let router = function(port, "not-the-session-token", "3600").await;
    assert_eq!(
        discover_with(&router, FIRST).await,
        (503, r#"{"message":"503 Service Unavailable"}"#.to_owned())
    );
}
