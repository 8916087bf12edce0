//! `POST /internal/error_tracking/allowed`, the `error-tracking` function.

use axum::body::Body;
use axum::http::Request;
use serde_json::json;

use crate::support::*;

const PATH: &str = "/api/v4/internal/error_tracking/allowed";

fn with_token(token: &str, body: serde_json::Value) -> Request<Body> {
    Request::post(PATH)
        .header("Content-Type", "application/json")
        .header("Gitlab-Error-Tracking-Token", token)
        .body(Body::from(body.to_string()))
        .unwrap()
}

on_both_backends! {
    async fn answers_whether_the_key_may_send_events(app: TestApp) {
        let cases = [
            (json!({"project_id": 26, "public_key": "glet_active"}), r#"{"enabled":true}"#),
            (json!({"project_id": "26", "public_key": "glet_active"}), r#"{"enabled":true}"#),
            (json!({"project_id": 26, "public_key": "glet_revoked"}), r#"{"enabled":false}"#),
            (json!({"project_id": 26, "public_key": "glet_unknown"}), r#"{"enabled":false}"#),
            (json!({"project_id": 27, "public_key": "glet_off"}), r#"{"enabled":false}"#),
            (json!({"project_id": 28, "public_key": "glet_active"}), r#"{"enabled":false}"#),
        ];
        for (body, expected) in cases {
            app.send(with_token(ERROR_TRACKING_TOKEN, body.clone())).await.assert(200, expected);
            // The GitLab Shell JWT authenticates too.
            app.shell_post(PATH, &body).await.assert(200, expected);
        }
        // The token may come as a parameter; a trailing newline is dropped, as GitLab's chomp does.
        let request = Request::post(format!("{PATH}?error_tracking_token=opstrace-token%0A"))
            .header("Content-Type", "application/json")
            .body(Body::from(r#"{"project_id":26,"public_key":"glet_active"}"#))
            .unwrap();
        app.send(request).await.assert(200, r#"{"enabled":true}"#);
        // In the body too, and the parameter is read before the header.
        let body = json!({"project_id": 26, "public_key": "glet_active", "error_tracking_token": ERROR_TRACKING_TOKEN});
        app.send(with_token("wrong", body)).await.assert(200, r#"{"enabled":true}"#);
        let body = json!({"project_id": 26, "public_key": "glet_active", "error_tracking_token": "wrong"});
        app.send(with_token(ERROR_TRACKING_TOKEN, body)).await.assert(401, r#"{"message":"401 Unauthorized"}"#);
    }

    async fn errors(app: TestApp) {
        for body in [json!({"public_key": "k"}), json!({"project_id": 26}), json!({"project_id": "", "public_key": "k"}), json!({})] {
            app.send(with_token(ERROR_TRACKING_TOKEN, body)).await.assert(422, r#"{"message":"422 Unprocessable Entity"}"#);
        }
        for project_id in [json!(999), json!("abc")] {
            app.send(with_token(ERROR_TRACKING_TOKEN, json!({"project_id": project_id, "public_key": "k"}))).await
                .assert(404, r#"{"message":"404 Not found"}"#);
        }
        // A wrong token is refused before parameters are looked at; so is no credential.
        app.send(with_token("wrong", json!({}))).await.assert(401, r#"{"message":"401 Unauthorized"}"#);
        let bare = Request::post(PATH).body(Body::from("{}")).unwrap();
        app.send(bare).await.assert(401, r#"{"message":"401 Unauthorized"}"#);
        app.take_round_trips();
        app.send(with_token(ERROR_TRACKING_TOKEN, json!({"project_id": 26, "public_key": "glet_active"}))).await;
        assert_eq!(app.take_round_trips(), 1);
    }
}
