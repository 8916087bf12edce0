//! The `billing` function's handler fed API Gateway REST events as CustomersDot's calls
//! arrive through the private API: stage in the path, the internal mount, an admin token in
//! `PRIVATE-TOKEN`, a base64 JSON body, a URL-encoded full path in the path, a query string.

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

async fn invoke(state: &AppState, event: &str) -> (u16, String) {
    let request = lambda_http::request::from_str(event).expect("a valid REST event");
    let router = gl_http::with_gitlab_fallbacks(billing::router(state.clone()));
    let response = gl_http::lambda::handle(router, request).await;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn create_event(namespace: &str, token: &str) -> String {
    include_str!("fixtures/rest-create-subscription.json")
        .replace("{{NAMESPACE}}", namespace)
        .replace("{{TOKEN}}", token)
}

#[tokio::test]
async fn subscriptions_through_api_gateway() {
    let state = state().await;
    // A URL-encoded full path stays one path segment through the gateway.
    assert_eq!(
        invoke(&state, &create_event("group%2Fsubgroup", TOKEN)).await,
        (
            201,
            r#"{"plan":{"code":"premium","name":"Premium","trial":false,"auto_renew":null,"upgradable":true,"exclude_guests":false},"usage":{"seats_in_subscription":10,"seats_in_use":0,"max_seats_used":0,"seats_owed":0},"billing":{"subscription_start_date":"2026-01-15","subscription_end_date":"2036-01-15","trial_ends_on":null}}"#.to_owned()
        )
    );
    assert_eq!(
        invoke(&state, &create_event("11", TOKEN)).await,
        (
            400,
            r#"{"message":{"namespace_id":["has already been taken"]}}"#.to_owned()
        )
    );
}

/// CustomersDot's create through the function's URL (`AuthType: AWS_IAM`): an HTTP API v2
/// event, no stage, SigV4 headers AWS checked before the function ran; the same answers as
/// through the private API, the application's credential still checked as GitLab checks it.
fn url_create_event(namespace: &str, token: &str) -> String {
    include_str!("fixtures/url-create-subscription.json")
        .replace("{{NAMESPACE}}", namespace)
        .replace("{{TOKEN}}", token)
}

#[tokio::test]
async fn subscriptions_through_the_function_url() {
    let through_the_api = invoke(&state().await, &create_event("group%2Fsubgroup", TOKEN)).await;
    let state = state().await;
    let created = invoke(&state, &url_create_event("group%2Fsubgroup", TOKEN)).await;
    assert_eq!(created, through_the_api);
    assert_eq!(created.0, 201, "{}", created.1);
    assert_eq!(
        invoke(&state, &url_create_event("11", TOKEN)).await,
        (
            400,
            r#"{"message":{"namespace_id":["has already been taken"]}}"#.to_owned()
        )
    );
    assert_eq!(
        invoke(&state, &url_create_event("10", "nope")).await,
        (401, r#"{"message":"401 Unauthorized"}"#.to_owned())
    );
}

#[tokio::test]
async fn wrong_token_through_api_gateway() {
    let state = state().await;
    assert_eq!(
        invoke(&state, &create_event("10", "nope")).await,
        (401, r#"{"message":"401 Unauthorized"}"#.to_owned())
    );
}

/// The fixture's event retargeted: another method, resource and path, a query string and a
/// JSON body (base64, as the gateway passes it).
fn event(
    method: &str,
    resource: &str,
    path: &str,
    query: Option<(&str, &str)>,
    body: Option<serde_json::Value>,
) -> String {
    use base64::Engine;
    let fixture = create_event("10", TOKEN);
    let mut event: serde_json::Value = serde_json::from_str(&fixture).unwrap();
    event["httpMethod"] = method.into();
    event["requestContext"]["httpMethod"] = method.into();
    event["resource"] = resource.into();
    event["requestContext"]["resourcePath"] = resource.into();
    event["path"] = path.into();
    event["requestContext"]["path"] = format!("/prod{path}").into();
    if let Some((name, value)) = query {
        event["queryStringParameters"] = serde_json::json!({ name: value });
        event["multiValueQueryStringParameters"] = serde_json::json!({ name: [value] });
    }
    event["body"] = match body {
        Some(body) => base64::engine::general_purpose::STANDARD
            .encode(body.to_string())
            .into(),
        None => serde_json::Value::Null,
    };
    event.to_string()
}

#[tokio::test]
async fn minutes_and_reconciliations_through_api_gateway() {
    let state = state().await;
    let packs = serde_json::json!({"packs": [
        {"number_of_minutes": 1000, "expires_at": "2027-01-01", "purchase_xid": "C-1"}]});
    assert_eq!(
        invoke(
            &state,
            &event(
                "POST",
                "/api/v4/namespaces/{id}/minutes",
                "/api/v4/namespaces/group/minutes",
                None,
                Some(packs),
            )
        )
        .await,
        (
            201,
            r#"[{"namespace_id":10,"expires_at":"2027-01-01","number_of_minutes":1000,"purchase_xid":"C-1"}]"#
                .to_owned()
        )
    );
    assert_eq!(
        invoke(
            &state,
            &event(
                "PATCH",
                "/api/v4/namespaces/{id}/minutes/move/{target_id}",
                "/api/v4/namespaces/10/minutes/move/1",
                None,
                None,
            )
        )
        .await,
        (202, r#"{"message":"202 Accepted"}"#.to_owned())
    );
    let reconciliations = serde_json::json!({"upcoming_reconciliations": [
        {"namespace_id": 10, "next_reconciliation_date": "13 Jun 2021",
         "display_alert_from": "06 Jun 2021"}]});
    let path = "/api/v4/internal/upcoming_reconciliations";
    assert_eq!(
        invoke(
            &state,
            &event("PUT", path, path, None, Some(reconciliations))
        )
        .await,
        (200, "200".to_owned())
    );
    let delete = event("DELETE", path, path, Some(("namespace_id", "10")), None);
    assert_eq!(invoke(&state, &delete).await, (204, String::new()));
    assert_eq!(
        invoke(&state, &delete).await,
        (404, r#"{"message":"404 Not Found"}"#.to_owned())
    );
}
