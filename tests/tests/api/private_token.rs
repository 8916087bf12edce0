//! A personal access token created over SSH works afterwards as `PRIVATE-TOKEN` for the
//! admin-only families, when its user is an admin and its scope allows it.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use gl_http::admin::AdminAuthenticated;

use crate::support::*;

/// A stand-in admin endpoint: the admin family authenticates the same way (`gl_http::admin`).
pub(crate) fn admin_probe(app: &TestApp) -> Router {
    gl_http::with_gitlab_fallbacks(
        Router::new()
            .route(
                "/api/v4/admin-probe",
                get(|admin: AdminAuthenticated| async move {
                    Json(json!({"admin": admin.user.username}))
                }),
            )
            .with_state(app.state()),
    )
}

async fn call(router: &Router, token: Option<&str>) -> TestResponse {
    send_to(router, private_token_request("/api/v4/admin-probe", token)).await
}

async fn create(app: &TestApp, key_id: &str, scopes: serde_json::Value) -> String {
    personal_access_token(app, json!({ "key_id": key_id }), scopes).await
}

on_both_backends!(tokens_from_ssh_authenticate_admin_calls,);

async fn tokens_from_ssh_authenticate_admin_calls(app: TestApp) {
    let probe = admin_probe(&app);
    let admin = create(&app, "1", json!(["api"])).await;
    call(&probe, Some(&admin))
        .await
        .assert_snapshot(200, "admin_probe_root");

    let narrow = create(&app, "1", json!(["read_user"])).await;
    let response = call(&probe, Some(&narrow)).await;
    assert_eq!(response.status, 403);
    assert_eq!(response.json()["error"], "insufficient_scope");

    let not_admin = create(&app, "2", json!(["api"])).await;
    call(&probe, Some(&not_admin))
        .await
        .assert_snapshot(403, "forbidden");

    for bad in [None, Some(""), Some("glpat-unknown")] {
        call(&probe, bad)
            .await
            .assert_snapshot_for(401, "unauthorized", format_args!("{bad:?}"));
    }
    // The seed's admin token ("pat-plaintext", scope api) works too.
    assert_eq!(call(&probe, Some("pat-plaintext")).await.status, 200);

    // Tokens found but refused get the API guard's bodies.
    for (plaintext, expires_at, revoked, snapshot) in [
        ("expired-admin-token", "2020-01-01", false, "token_expired"),
        ("revoked-admin-token", "2099-01-01", true, "token_revoked"),
    ] {
        stored_personal_access_token(&app, plaintext, 1, expires_at, revoked).await;
        call(&probe, Some(plaintext))
            .await
            .assert_snapshot(401, snapshot);
    }
}
