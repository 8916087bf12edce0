//! Paths and methods no endpoint serves still answer JSON, as Grape does.

use axum::http::Method;

use crate::support::*;

on_both_backends! {
    async fn unknown_paths_and_methods(app: TestApp) {
        for path in ["/", "/api/v4/internal/nope", "/api/v4/internal/check/extra", "/prod/api/v4/internal/check"] {
            app.send(shell_request(Method::GET, path, &jwt_now())).await.assert(404, r#"{"error":"404 Not Found"}"#);
        }
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            app.send(shell_request(method, "/api/v4/internal/check", &jwt_now())).await
                .assert(405, r#"{"error":"405 Not Allowed"}"#);
        }
    }

    async fn oversized_bodies_are_refused(app: TestApp) {
        use axum::body::Body;
        use axum::http::Request;
        let huge = format!(r#"{{"key_id":"1","pad":"{}"}}"#, "x".repeat(gl_http::MAX_BODY_BYTES));
        let request = Request::get("/api/v4/internal/discover")
            .header("Gitlab-Shell-Api-Request", jwt_now())
            .header("Content-Type", "application/json")
            .body(Body::from(huge))
            .unwrap();
        app.send(request).await.assert(413, r#"{"message":"413 Request Entity Too Large"}"#);
    }
}
