//! `GET /internal/discover`: always 200, the user or `null`.

use crate::support::*;

on_both_backends!(
    finds_the_user_by_each_kind_of_actor,
    nobody_is_the_json_literal_null,
    over_long_names_find_nobody,
    blocked_users_are_still_discovered,
    parameters_may_come_as_a_json_body
);

async fn finds_the_user_by_each_kind_of_actor(app: TestApp) {
    let cases = [
        ("key_id=1", "discover_root"),
        ("key_id=2", "discover_alice"),
        ("user_id=2", "discover_alice"),
        ("username=alice", "discover_alice"),
        ("username=ALICE", "discover_alice"),
        ("identifier=user-1", "discover_root"),
        ("identifier=key-2", "discover_alice"),
        // key_id wins over the others, as in GitAccessActor.from_params.
        ("key_id=1&username=alice", "discover_root"),
    ];
    for (query, snapshot) in cases {
        let response = app
            .shell_get(&format!("/api/v4/internal/discover?{query}"))
            .await;
        response.assert_snapshot_for(200, snapshot, query);
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
        let response = app
            .shell_get(&format!("/api/v4/internal/discover?{query}"))
            .await;
        response.assert_snapshot_for(200, "discover_nobody", query);
    }
}

async fn over_long_names_find_nobody(app: TestApp) {
    // Longer than DynamoDB's 2048-byte key limit: still a plain "nobody", never a 500.
    let long = "x".repeat(3000);
    app.shell_get(&format!("/api/v4/internal/discover?username={long}"))
        .await
        .assert_snapshot(200, "discover_nobody");
    app.shell_post(
        "/api/v4/internal/allowed",
        &serde_json::json!({"action": "git-upload-pack", "project": long, "username": long}),
    )
    .await
    .assert_snapshot(404, "allowed_project_not_found");
}

async fn blocked_users_are_still_discovered(app: TestApp) {
    // GitLab answers who the key belongs to; blocking is /allowed's business.
    app.shell_get("/api/v4/internal/discover?key_id=5")
        .await
        .assert_snapshot(200, "discover_bob");
}

async fn parameters_may_come_as_a_json_body(app: TestApp) {
    let request = shell_get_with_body("/api/v4/internal/discover", r#"{"key_id":2}"#);
    app.send(request)
        .await
        .assert_snapshot(200, "discover_alice");
    let malformed = shell_get_with_body("/api/v4/internal/discover", r#"{"key_id":"#);
    app.send(malformed)
        .await
        .assert_snapshot(400, "malformed_body");
}
