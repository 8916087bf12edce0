//! The `kas` function's handler fed an API Gateway REST event as KAS's `agent_info` arrives
//! through the private API: stage in the path, KAS JWT and agent token headers, no body.

use http_body_util::BodyExt;

use gl_http::{AppState, InstanceInfo};

const KEY: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

async fn invoke(agent_token: &str) -> (u16, serde_json::Value) {
    let seed = r#"{"groups":[{"id":1,"path":"g","name":"G","parent_id":null}],
        "projects":[{"id":26,"namespace_id":1,"path":"p","default_branch":"main"}],
        "agents":[{"id":7,"name":"agent1","project_id":26,"token":"agent-secret"}]}"#;
    let store = gl_http::seed::in_memory_store(seed).await.unwrap();
    let instance = InstanceInfo {
        gitlab_version: "18.6.0".into(),
        gitlab_rev: "abc".into(),
    };
    let state = AppState::new(store, None, instance).with_kas_secret(Some(KEY));
    let jwt = gl_auth::mint_kas_jwt(KEY, chrono::Utc::now().timestamp());
    let event = include_str!("fixtures/rest-agent-info.json")
        .replace("{{JWT}}", &jwt)
        .replace("{{AGENT_TOKEN}}", agent_token);
    let request = lambda_http::request::from_str(&event).expect("a valid REST event");
    let response =
        gl_http::lambda::handle(gl_http::with_gitlab_fallbacks(kas::router(state)), request).await;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn agent_info_through_api_gateway() {
    let (status, body) = invoke("agent-secret").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["agent_id"].as_i64(), body["project_id"].as_i64()),
        (Some(7), Some(26))
    );
    assert_eq!(body["gitaly_repository"]["gl_repository"], "project-26");
}

#[tokio::test]
async fn unknown_agent_token_through_api_gateway() {
    assert_eq!(
        invoke("nope").await,
        (401, serde_json::json!({"message": "401 Unauthorized"}))
    );
}
