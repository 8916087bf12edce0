//! `GET /internal/discover`: always 200, the user or `null`.

use crate::support::*;

const ROOT: &str = r#"{"id":1,"username":"root","name":"Administrator"}"#;
const ALICE: &str = r#"{"id":2,"username":"Alice","name":"Alice Liddell"}"#;

on_both_backends! {
    async fn finds_the_user_by_each_kind_of_actor(app: TestApp) {
        let cases = [
            ("key_id=1", ROOT),
            ("key_id=2", ALICE),
            ("user_id=2", ALICE),
            ("username=alice", ALICE),
            ("username=ALICE", ALICE),
            ("identifier=user-1", ROOT),
            ("identifier=key-2", ALICE),
            // key_id wins over the others, as in GitAccessActor.from_params.
            ("key_id=1&username=alice", ROOT),
        ];
        for (query, body) in cases {
            let response = app.shell_get(&format!("/api/v4/internal/discover?{query}")).await;
            assert_eq!(response.text, body, "{query}");
            response.assert(200, body);
        }
    }

    async fn nobody_is_the_json_literal_null(app: TestApp) {
        for query in [
            "key_id=999",
            "key_id=abc",
            "key_id=",
            "user_id=999",
            "username=ghost",
            "identifier=user-x",
            "identifier=deploy-3",
            // A deploy key seeded without a creator has no user.
            "key_id=3",
            // A signing-only key cannot authenticate, so it is invisible.
            "key_id=4",
            "",
        ] {
            let response = app.shell_get(&format!("/api/v4/internal/discover?{query}")).await;
            assert_eq!(response.text, "null", "{query}");
            response.assert(200, "null");
        }
    }

    async fn over_long_names_find_nobody(app: TestApp) {
        // Longer than DynamoDB's 2048-byte key limit: still a plain "nobody", never a 500.
        let long = "x".repeat(3000);
        app.shell_get(&format!("/api/v4/internal/discover?username={long}")).await.assert(200, "null");
        app.shell_post("/api/v4/internal/allowed", &serde_json::json!({"action": "git-upload-pack", "project": long, "username": long}))
            .await
            .assert(404, r#"{"status":false,"message":"The project you were looking for could not be found or you don't have permission to view it."}"#);
    }

    async fn blocked_users_are_still_discovered(app: TestApp) {
        // GitLab answers who the key belongs to; blocking is /allowed's business.
        app.shell_get("/api/v4/internal/discover?key_id=5").await
            .assert(200, r#"{"id":3,"username":"bob","name":"Bob"}"#);
    }

    async fn parameters_may_come_as_a_json_body(app: TestApp) {
        use axum::body::Body;
        use axum::http::Request;
        let request = Request::get("/api/v4/internal/discover")
            .header("Gitlab-Shell-Api-Request", jwt_now())
            .header("Content-Type", "application/json")
            .body(Body::from(r#"{"key_id":2}"#))
            .unwrap();
        app.send(request).await.assert(200, ALICE);
        let malformed = Request::get("/api/v4/internal/discover")
            .header("Gitlab-Shell-Api-Request", jwt_now())
            .header("Content-Type", "application/json")
            .body(Body::from(r#"{"key_id":"#))
            .unwrap();
        app.send(malformed).await.assert(400, r#"{"error":"message body does not match declared format"}"#);
    }
}
