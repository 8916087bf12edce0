//! The `shell` function's handler fed real API Gateway REST (v1) events, as a private REST API
//! delivers them: stage in `requestContext.path`, multi-value headers, base64 bodies.

use http_body_util::BodyExt;

use gl_http::{AppState, InstanceInfo};

const SECRET: &[u8] = b"lambda-secret";
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMzna5aq8PDltRbXkTJV8x951Pl7NXp3IYEEAI3XhPBb root@laptop";

async fn state() -> AppState {
    let seed = format!(
        r#"{{"users":[{{"id":1,"username":"root","name":"Administrator","email":"admin@example.com"}}],
            "keys":[{{"id":1,"user_id":1,"title":"root@laptop","key":"{KEY}","created_at":"2024-01-01T00:00:00Z"}}],
            "settings":{{"gitlab_url":"https://gitlab.example.com","gitaly":{{"address":"tcp://gitaly:8075","token":"","storage":"default"}}}}}}"#
    );
    let store = gl_http::seed::in_memory_store(&seed).await.unwrap();
    let instance = InstanceInfo {
        gitlab_version: "18.6.0".into(),
        gitlab_rev: "abc1234".into(),
    };
    AppState::new(store, Some(SECRET), instance)
}

/// Sends a fixture event through the function's handler and returns status and body.
async fn invoke(fixture: &str) -> (u16, String) {
    let jwt = gl_auth::mint_shell_jwt(SECRET, chrono::Utc::now().timestamp(), 60);
    let blob = KEY.split_whitespace().nth(1).unwrap();
    let event = fixture.replace("{{JWT}}", &jwt).replace("{{BLOB}}", blob);
    let request = lambda_http::request::from_str(&event).expect("a valid API Gateway REST event");
    assert!(
        request.uri().path().starts_with("/prod/"),
        "REST events carry the stage: {}",
        request.uri()
    );
    let router = gl_http::with_gitlab_fallbacks(shell::router(state().await));
    let response = gl_http::lambda::handle(router, request).await;
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn check_with_the_stage_in_the_path() {
    let (status, body) = invoke(include_str!("fixtures/rest-check.json")).await;
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            r#"{"api_version":"v4","gitlab_version":"18.6.0","gitlab_rev":"abc1234","redis":true}"#
        )
    );
}

#[tokio::test]
async fn authorized_keys_from_query_string_parameters() {
    let (status, body) = invoke(include_str!("fixtures/rest-authorized-keys.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        format!(
            r#"{{"id":1,"title":"root@laptop","created_at":"2024-01-01T00:00:00.000Z","expires_at":null,"key":"ssh-ed25519 {} Administrator (gitlab.example.com)","usage_type":"auth_and_signing"}}"#,
            KEY.split_whitespace().nth(1).unwrap()
        )
    );
}

#[tokio::test]
async fn base64_encoded_json_bodies_are_decoded() {
    let (status, body) = invoke(include_str!("fixtures/rest-discover-base64-body.json")).await;
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"id":1,"username":"root","name":"Administrator"}"#)
    );
}

#[tokio::test]
async fn unknown_paths_answer_json_404() {
    let (status, body) = invoke(include_str!("fixtures/rest-unknown-path.json")).await;
    assert_eq!(
        (status, body.as_str()),
        (404, r#"{"error":"404 Not Found"}"#)
    );
}

#[tokio::test]
async fn a_missing_jwt_is_401() {
    let fixture = include_str!("fixtures/rest-check.json").replace("{{JWT}}", "");
    let request = lambda_http::request::from_str(&fixture).unwrap();
    let response = gl_http::lambda::handle(
        gl_http::with_gitlab_fallbacks(shell::router(state().await)),
        request,
    )
    .await;
    assert_eq!(response.status().as_u16(), 401);
}
