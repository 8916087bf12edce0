//! The `scim` function's handler fed an API Gateway REST event as Okta's create arrives
//! through the private API: stage in the path, the group's path as a path parameter, the
//! token as a bearer, a base64 `application/scim+json` body.

use http_body_util::BodyExt;

use gl_http::{AppState, InstanceInfo};

async fn state() -> AppState {
    let seed = r#"{"users":[{"id":1,"username":"root","name":"Administrator","email":"a@example.com","admin":true,"namespace_id":1}],
        "groups":[{"id":10,"path":"group","name":"Group","parent_id":null,"members":[{"user_id":1,"access_level":50}]}],
        "scim_tokens":[{"group_path":"group","token":"scim-token"}],
        "settings":{"gitlab_url":"https://gitlab.example.com/","gitaly":{"address":"tcp://gitaly:8075","token":"t","storage":"default"}}}"#;
    let store = gl_http::seed::in_memory_store(seed).await.unwrap();
    let instance = InstanceInfo {
        gitlab_version: "18.6.0".into(),
        gitlab_rev: "abc".into(),
    };
    AppState::new(store, None, instance)
}

async fn invoke(state: &AppState, token: &str) -> (u16, String, String) {
    let event = include_str!("fixtures/rest-okta-create.json").replace("{{TOKEN}}", token);
    let request = lambda_http::request::from_str(&event).expect("a valid REST event");
    let router = gl_http::with_gitlab_fallbacks(scim::router(state.clone()));
    let response = gl_http::lambda::handle(router, request).await;
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn oktas_create_through_api_gateway() {
    let state = state().await;
    let expected = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"00u1","active":true,"emails":[{"type":"work","value":"jane@example.com","primary":true}],"name":{"formatted":"Jane Doe","givenName":"Jane","familyName":"Doe"},"meta":{"resourceType":"User"},"userName":"jane"}"#;
    assert_eq!(
        invoke(&state, "scim-token").await,
        (201, "application/scim+json".to_owned(), expected.to_owned())
    );
    // Idempotent: the same identity again.
    assert_eq!(invoke(&state, "scim-token").await.2, expected);
    assert_eq!(
        invoke(&state, "nope").await,
        (
            401,
            "application/json".to_owned(),
            r#"{"message":"401 Unauthorized"}"#.to_owned()
        )
    );
}
