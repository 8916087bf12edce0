//! Paths and methods no endpoint serves still answer JSON, as Grape does.

use axum::http::Method;

use crate::support::*;

on_both_backends!(unknown_paths_and_methods, oversized_bodies_are_refused);

async fn unknown_paths_and_methods(app: TestApp) {
    for path in [
        "/",
        "/api/v4/internal/nope",
        "/api/v4/internal/check/extra",
        "/prod/api/v4/internal/check",
    ] {
        app.send(shell_request(Method::GET, path, &jwt_now()))
            .await
            .assert_snapshot(404, "routing_unknown_path");
    }
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        app.send(shell_request(method, "/api/v4/internal/check", &jwt_now()))
            .await
            .assert_snapshot(405, "routing_method_not_allowed");
    }
}

async fn oversized_bodies_are_refused(app: TestApp) {
    let huge = format!(
        r#"{{"key_id":"1","pad":"{}"}}"#,
        "x".repeat(gl_http::MAX_BODY_BYTES)
    );
    let request = shell_get_with_body("/api/v4/internal/discover", huge);
    app.send(request)
        .await
        .assert_snapshot(413, "body_too_large");
}
