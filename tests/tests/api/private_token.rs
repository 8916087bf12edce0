//! A personal access token created over SSH works afterwards as `PRIVATE-TOKEN` for the
//! admin-only families, when its user is an admin and its scope allows it.

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower::ServiceExt;

use gl_http::admin::AdminRequest;

use crate::support::*;

/// A stand-in admin endpoint: the billing and storage-limit families use the same extractor.
fn admin_probe(app: &TestApp) -> Router {
    gl_http::finish(
        Router::new()
            .route("/api/v4/admin-probe", get(|admin: AdminRequest| async move { Json(json!({"admin": admin.user.username})) }))
            .with_state(app.state()),
    )
}

async fn call(router: &Router, token: Option<&str>) -> (u16, String) {
    let mut request = Request::get("/api/v4/admin-probe");
    if let Some(token) = token {
        request = request.header("PRIVATE-TOKEN", token);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

async fn create(app: &TestApp, key_id: &str, scopes: serde_json::Value) -> String {
    personal_access_token(app, json!({ "key_id": key_id }), scopes).await
}

on_both_backends! {
    async fn tokens_from_ssh_authenticate_admin_calls(app: TestApp) {
        let probe = admin_probe(&app);
        let admin = create(&app, "1", json!(["api"])).await;
        assert_eq!(call(&probe, Some(&admin)).await, (200, r#"{"admin":"root"}"#.to_owned()));

        let narrow = create(&app, "1", json!(["read_user"])).await;
        let (status, body) = call(&probe, Some(&narrow)).await;
        assert_eq!(status, 403);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"], "insufficient_scope");

        let not_admin = create(&app, "2", json!(["api"])).await;
        assert_eq!(call(&probe, Some(&not_admin)).await, (403, r#"{"message":"403 Forbidden"}"#.to_owned()));

        for bad in [None, Some(""), Some("glpat-unknown")] {
            assert_eq!(call(&probe, bad).await, (401, r#"{"message":"401 Unauthorized"}"#.to_owned()), "{bad:?}");
        }
        // The seed's admin token ("pat-plaintext", scope api) works too.
        assert_eq!(call(&probe, Some("pat-plaintext")).await.0, 200);

        // Tokens found but refused get the API guard's bodies.
        for (plaintext, expires_at, revoked, description) in [
            ("expired-admin-token", "2020-01-01", false, "Token has expired."),
            ("revoked-admin-token", "2099-01-01", true, "Token has been revoked."),
        ] {
            stored_personal_access_token(&app, plaintext, 1, expires_at, revoked).await;
            assert_eq!(
                call(&probe, Some(plaintext)).await,
                (401, json!({"error": "invalid_token", "error_description": description}).to_string())
            );
        }
    }
}
