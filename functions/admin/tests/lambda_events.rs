//! The `admin` function's handler fed API Gateway REST events as the GitLab.com Admin Area's
//! calls arrive through the private API: stage in the path, `PRIVATE-TOKEN` header, base64
//! JSON body, a URL-encoded full path in the path.

use http_body_util::BodyExt;

use gl_http::{AppState, InstanceInfo};

const TOKEN: &str = "admin-token-plaintext";

async fn state() -> AppState {
    let seed = r#"{"users":[{"id":1,"username":"root","name":"Administrator","email":"a@example.com","admin":true,"namespace_id":1}],
        "groups":[{"id":10,"path":"group","name":"Group","parent_id":null},{"id":11,"path":"subgroup","name":"Subgroup","parent_id":10}],
        "personal_access_tokens":[{"user_id":1,"name":"admin","token":"admin-token-plaintext","scopes":["api"],"expires_at":"2099-12-31"}],
        "settings":{"gitlab_url":"https://gitlab.example.com/","gitaly":{"address":"tcp://gitaly:8075","token":"t","storage":"default"}}}"#;
    let store = gl_http::seed::in_memory_store(seed).await.unwrap();
    let instance = InstanceInfo {
        gitlab_version: "18.6.0".into(),
        gitlab_rev: "abc".into(),
    };
    AppState::new(store, None, instance)
}

async fn invoke(state: &AppState, event: &str) -> (u16, String, Option<String>) {
    let request = lambda_http::request::from_str(event).expect("a valid REST event");
    let router = gl_http::with_gitlab_fallbacks(admin::router(state.clone()));
    let response = gl_http::lambda::handle(router, request).await;
    let status = response.status().as_u16();
    let total = response
        .headers()
        .get("x-total")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap(), total)
}

fn create_event(namespace: &str, token: &str) -> String {
    include_str!("fixtures/rest-create-exclusion.json")
        .replace("{{NAMESPACE}}", namespace)
        .replace("{{TOKEN}}", token)
}

#[tokio::test]
async fn exclusions_through_api_gateway() {
    let state = state().await;
    assert_eq!(
        invoke(&state, &create_event("10", TOKEN)).await,
        (
            201,
            r#"{"id":1,"namespace_id":10,"namespace_name":"Group","reason":"a reason to exclude the Namespace"}"#.to_owned(),
            None
        )
    );
    // A URL-encoded full path stays one path segment through the gateway.
    assert_eq!(
        invoke(&state, &create_event("group%2Fsubgroup", TOKEN)).await,
        (
            400,
            r#"{"message":"400 Bad request - must use a root namespace"}"#.to_owned(),
            None
        )
    );
    let list = include_str!("fixtures/rest-list-exclusions.json").replace("{{TOKEN}}", TOKEN);
    let (status, body, total) = invoke(&state, &list).await;
    assert_eq!((status, total.as_deref()), (200, Some("1")), "{body}");
}

#[tokio::test]
async fn wrong_token_through_api_gateway() {
    let state = state().await;
    assert_eq!(
        invoke(&state, &create_event("10", "nope")).await,
        (401, r#"{"message":"401 Unauthorized"}"#.to_owned(), None)
    );
}

/// The same calls as CustomersDot makes them through the function's URL (`AuthType:
/// AWS_IAM`): HTTP API v2 events, no stage, SigV4 headers that AWS checked before the
/// function ran, and the application's own credential still checked as GitLab checks it.
fn url_create_event(namespace: &str, token: &str) -> String {
    include_str!("fixtures/url-create-exclusion.json")
        .replace("{{NAMESPACE}}", namespace)
        .replace("{{TOKEN}}", token)
}

#[tokio::test]
async fn exclusions_through_the_function_url() {
    let state = state().await;
    assert_eq!(
        invoke(&state, &url_create_event("10", TOKEN)).await,
        (
            201,
            r#"{"id":1,"namespace_id":10,"namespace_name":"Group","reason":"a reason to exclude the Namespace"}"#.to_owned(),
            None
        )
    );
    assert_eq!(
        invoke(&state, &url_create_event("group%2Fsubgroup", TOKEN)).await,
        (
            400,
            r#"{"message":"400 Bad request - must use a root namespace"}"#.to_owned(),
            None
        )
    );
    let list = include_str!("fixtures/url-list-exclusions.json").replace("{{TOKEN}}", TOKEN);
    let (status, body, total) = invoke(&state, &list).await;
    assert_eq!((status, total.as_deref()), (200, Some("1")), "{body}");
    assert_eq!(
        invoke(&state, &url_create_event("10", "nope")).await,
        (401, r#"{"message":"401 Unauthorized"}"#.to_owned(), None)
    );
}
