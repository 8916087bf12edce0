//! Each endpoint within its round-trip budget (`design.md`): authorized_keys 1, discover 2;
//! the instance settings read once per process and cache lifetime, not once per request. The
//! `Server-Timing` header every answer carries reports the same round trips from outside.

use axum::body::Body;
use axum::http::{Method, Request};

use crate::support::*;
use crate::{query_escape, world_blob};

on_both_backends!(budgets_hold);

async fn budgets_hold(app: TestApp) {
    let cases = [
        (
            format!(
                "/api/v4/internal/authorized_keys?key={}",
                query_escape(&world_blob(0))
            ),
            1,
        ),
        (
            "/api/v4/internal/authorized_keys?key=whatever".to_owned(),
            1,
        ),
        ("/api/v4/internal/discover?key_id=1".to_owned(), 2),
        ("/api/v4/internal/discover?username=alice".to_owned(), 2),
        ("/api/v4/internal/discover?user_id=1".to_owned(), 1),
        ("/api/v4/internal/check".to_owned(), 1),
    ];
    for (path, budget) in cases {
        app.take_round_trips();
        let response = app.shell_get(&path).await;
        assert!(
            response.status.is_success() || response.status.as_u16() == 404,
            "{path}: {}",
            response.text
        );
        assert_eq!(app.take_round_trips(), budget, "{path}");
        assert_eq!(reported_rounds(&response), budget, "{path}");
    }
}

/// The round trips an answer's `Server-Timing` header reports; every answer has one.
fn reported_rounds(response: &TestResponse) -> u64 {
    let value = response
        .headers
        .get("server-timing")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_else(|| panic!("no Server-Timing: {:?}", response.headers));
    assert!(value.starts_with("app;dur="), "{value}");
    gl_http::timing::rounds(value)
        .unwrap_or_else(|| panic!("{value}"))
        .into()
}

on_both_backends!(refusals_and_unknown_routes_report_no_store_work);

/// An answer given before the store is asked says so: a bad JWT, an unknown route.
async fn refusals_and_unknown_routes_report_no_store_work(app: TestApp) {
    let refused = app
        .send(shell_request(
            Method::GET,
            "/api/v4/internal/check",
            "not-a-jwt",
        ))
        .await;
    assert_eq!(refused.status.as_u16(), 401);
    assert_eq!(reported_rounds(&refused), 0);
    let unknown = app.shell_get("/api/v4/internal/nowhere").await;
    assert_eq!(unknown.status.as_u16(), 404);
    assert_eq!(reported_rounds(&unknown), 0);
}

on_both_backends!(
    settings_come_from_the_process_not_a_read_per_request,
    without_a_cache_every_request_reads_the_settings
);

/// The requests every SSH login and KAS call makes, and the round trips each takes.
fn hot_requests() -> Vec<(&'static str, Request<Body>, u64)> {
    use serde_json::json;
    let agent_info = "/api/v4/internal/kubernetes/agent_info";
    vec![
        (
            "authorized_keys",
            shell_request(
                Method::GET,
                &format!(
                    "/api/v4/internal/authorized_keys?key={}",
                    query_escape(&world_blob(0))
                ),
                &jwt_now(),
            ),
            1,
        ),
        (
            "allowed (pull)",
            shell_json(
                "/api/v4/internal/allowed",
                &json!({"action": "git-upload-pack", "project": "group/private", "key_id": "2", "changes": "_any", "protocol": "ssh"}),
            ),
            2,
        ),
        (
            "lfs_authenticate",
            shell_json(
                "/api/v4/internal/lfs_authenticate",
                &json!({"operation": "download", "project": "/group/private.git", "key_id": "2"}),
            ),
            2,
        ),
        (
            "post_receive",
            shell_json(
                "/api/v4/internal/post_receive",
                &json!({"changes": "", "gl_repository": "project-26", "identifier": "user-2", "push_options": null}),
            ),
            1,
        ),
        (
            "agent_info",
            kas_request(Method::GET, agent_info, &kas_jwt(), Some(AGENT_TOKEN), None),
            2,
        ),
    ]
}

fn shell_json(path: &str, body: &serde_json::Value) -> Request<Body> {
    let mut request = shell_request(Method::POST, path, &jwt_now());
    *request.body_mut() = Body::from(body.to_string());
    request
}

async fn settings_come_from_the_process_not_a_read_per_request(app: TestApp) {
    let warm_up = app.send(hot_requests().remove(0).1).await;
    assert_eq!(warm_up.status.as_u16(), 200, "{}", warm_up.text);
    assert_eq!(
        app.counter.settings_reads(),
        1,
        "the first request reads them"
    );
    for (name, request, budget) in hot_requests() {
        app.take_round_trips();
        let response = app.send(request).await;
        assert_eq!(response.status.as_u16(), 200, "{name}: {}", response.text);
        assert_eq!(app.counter.settings_reads(), 0, "{name} read the settings");
        assert_eq!(app.take_round_trips(), budget, "{name}");
        assert_eq!(reported_rounds(&response), budget, "{name}");
    }
    // A change this process makes is seen by the next request.
    app.set_gitlab_com(true).await;
    app.take_round_trips();
    app.send(hot_requests().remove(0).1).await;
    assert_eq!(app.counter.settings_reads(), 1, "read again once forgotten");
}

async fn without_a_cache_every_request_reads_the_settings(app: TestApp) {
    let state = app.state().with_settings_ttl(std::time::Duration::ZERO);
    let router = local_api::app(state);
    for (name, request, budget) in hot_requests() {
        app.take_round_trips();
        let response = send_to(&router, request).await;
        assert_eq!(response.status.as_u16(), 200, "{name}: {}", response.text);
        assert_eq!(app.counter.settings_reads(), 1, "{name}");
        // The settings ride along in a batch the request makes anyway: the cache saves the
        // hot item's reads, not rounds.
        assert_eq!(app.take_round_trips(), budget, "{name}");
    }
}
