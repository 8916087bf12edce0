//! The `error-tracking` function's handler fed an API Gateway REST event as OpsTrace's call
//! arrives through the private API: stage in the path, base64 JSON body, token header.

use http_body_util::BodyExt;

use gl_http::{AppState, InstanceInfo};

const TOKEN: &str = "opstrace-secret";

async fn invoke(token: &str) -> (u16, String) {
    let seed = r#"{"groups":[{"id":1,"path":"g","name":"G","parent_id":null}],
        "projects":[{"id":26,"namespace_id":1,"path":"p","error_tracking":{"enabled":true,"client_keys":[{"public_key":"glet_active"}]}}]}"#;
    let store = gl_http::seed::in_memory_store(seed).await.unwrap();
    let instance = InstanceInfo {
        gitlab_version: "18.6.0".into(),
        gitlab_rev: "abc".into(),
    };
    let state = AppState::new(store, Some(b"shell"), instance)
        .with_error_tracking_token(Some(TOKEN.as_bytes()));
    let event = include_str!("fixtures/rest-allowed.json").replace("{{TOKEN}}", token);
    let request = lambda_http::request::from_str(&event).expect("a valid REST event");
    let response = gl_http::lambda::handle(
        gl_http::with_gitlab_fallbacks(error_tracking::router(state)),
        request,
    )
    .await;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn allowed_through_api_gateway() {
    assert_eq!(invoke(TOKEN).await, (200, r#"{"enabled":true}"#.to_owned()));
}

#[tokio::test]
async fn wrong_token_through_api_gateway() {
    assert_eq!(
        invoke("nope").await,
        (401, r#"{"message":"401 Unauthorized"}"#.to_owned())
    );
}
