//! `POST /internal/error_tracking/allowed`, the `error-tracking` function.

use axum::body::Body;
use axum::http::Request;
use serde_json::json;

use crate::support::*;

on_both_backends!(answers_whether_the_key_may_send_events, errors);

async fn answers_whether_the_key_may_send_events(app: TestApp) {
    let cases = [
        (
            json!({"project_id": 26, "public_key": "glet_active"}),
            "error_tracking_enabled",
        ),
        (
            json!({"project_id": "26", "public_key": "glet_active"}),
            "error_tracking_enabled",
        ),
        (
            json!({"project_id": 26, "public_key": "glet_revoked"}),
            "error_tracking_disabled",
        ),
        (
            json!({"project_id": 26, "public_key": "glet_unknown"}),
            "error_tracking_disabled",
        ),
        (
            json!({"project_id": 27, "public_key": "glet_off"}),
            "error_tracking_disabled",
        ),
        (
            json!({"project_id": 28, "public_key": "glet_active"}),
            "error_tracking_disabled",
        ),
    ];
    for (body, snapshot) in cases {
        app.send(error_tracking_request(ERROR_TRACKING_TOKEN, &body))
            .await
            .assert_snapshot(200, snapshot);
        // The GitLab Shell JWT authenticates too.
        app.shell_post(ERROR_TRACKING_PATH, &body)
            .await
            .assert_snapshot(200, snapshot);
    }
    // The token may come as a parameter; a trailing newline is dropped, as GitLab's chomp does.
    let request = Request::post(format!(
        "{ERROR_TRACKING_PATH}?error_tracking_token=opstrace-token%0A"
    ))
    .header("Content-Type", "application/json")
    .body(Body::from(
        r#"{"project_id":26,"public_key":"glet_active"}"#,
    ))
    .unwrap();
    app.send(request)
        .await
        .assert_snapshot(200, "error_tracking_enabled");
    // In the body too, and the parameter is read before the header.
    let body = json!({"project_id": 26, "public_key": "glet_active", "error_tracking_token": ERROR_TRACKING_TOKEN});
    app.send(error_tracking_request("wrong", &body))
        .await
        .assert_snapshot(200, "error_tracking_enabled");
    let body =
        json!({"project_id": 26, "public_key": "glet_active", "error_tracking_token": "wrong"});
    app.send(error_tracking_request(ERROR_TRACKING_TOKEN, &body))
        .await
        .assert_snapshot(401, "unauthorized");
}

async fn errors(app: TestApp) {
    for body in [
        json!({"public_key": "k"}),
        json!({"project_id": 26}),
        json!({"project_id": "", "public_key": "k"}),
        json!({}),
    ] {
        app.send(error_tracking_request(ERROR_TRACKING_TOKEN, &body))
            .await
            .assert_snapshot(422, "unprocessable_entity");
    }
    for project_id in [json!(999), json!("abc")] {
        app.send(error_tracking_request(
            ERROR_TRACKING_TOKEN,
            &json!({"project_id": project_id, "public_key": "k"}),
        ))
        .await
        .assert_snapshot(404, "not_found_lowercase");
    }
    // A wrong token is refused before parameters are looked at; so is no credential.
    app.send(error_tracking_request("wrong", &json!({})))
        .await
        .assert_snapshot(401, "unauthorized");
    let bare = Request::post(ERROR_TRACKING_PATH)
        .body(Body::from("{}"))
        .unwrap();
    app.send(bare).await.assert_snapshot(401, "unauthorized");
    app.take_round_trips();
    app.send(error_tracking_request(
        ERROR_TRACKING_TOKEN,
        &json!({"project_id": 26, "public_key": "glet_active"}),
    ))
    .await;
    assert_eq!(app.take_round_trips(), 1);

    // Authentication comes before the body: a caller the headers do not authenticate may
    // send only a small one (16 KiB, where its token could be), an authenticated one up to
    // the usual 4 MiB.
    let padded = |token: &str| {
        let body =
            json!({"project_id": 26, "public_key": "glet_active", "padding": "x".repeat(1 << 20)});
        error_tracking_request(token, &body)
    };
    app.send(padded("wrong"))
        .await
        .assert_snapshot(413, "body_too_large");
    let bare = Request::post(ERROR_TRACKING_PATH)
        .header("Content-Type", "application/json")
        .body(Body::from(format!(
            r#"{{"padding":"{}"}}"#,
            "x".repeat(20_000)
        )))
        .unwrap();
    app.send(bare).await.assert_snapshot(413, "body_too_large");
    app.send(padded(ERROR_TRACKING_TOKEN))
        .await
        .assert_snapshot(200, "error_tracking_enabled");
}
