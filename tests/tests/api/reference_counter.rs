//! `POST /internal/pre_receive` and `POST /internal/post_receive`: the push reference counter
//! and the post-push messages.

use serde_json::json;

use crate::support::*;

const ZERO: &str = "0000000000000000000000000000000000000000";
const NEW: &str = "2222222222222222222222222222222222222222";

on_both_backends!(
    counts_pushes_in_and_out,
    an_expired_counter_starts_again,
    post_receive_links_merge_requests_for_pushed_branches,
    hooks_need_the_shell_jwt_and_stay_in_budget
);

/// The push reference counter of `gl_repository`, as stored.
async fn counter(app: &TestApp, gl_repository: &str) -> i64 {
    app.repo
        .shell()
        .reference_counter(gl_repository)
        .await
        .unwrap()
}

/// Gitaly's pre-receive hook for `gl_repository`, which must count the push in.
async fn pre_receive(app: &TestApp, gl_repository: &str) {
    app.shell_post(
        "/api/v4/internal/pre_receive",
        &json!({ "gl_repository": gl_repository }),
    )
    .await
    .assert_snapshot(200, "pre_receive_increased");
}

async fn counts_pushes_in_and_out(app: TestApp) {
    pre_receive(&app, "project-26").await;
    assert_eq!(counter(&app, "project-26").await, 1);
    let post = json!({"changes": "", "gl_repository": "project-26", "identifier": "user-2", "push_options": null});
    app.shell_post("/api/v4/internal/post_receive", &post)
        .await
        .assert_snapshot(200, "post_receive_decreased");
    assert_eq!(counter(&app, "project-26").await, 0);
    // One decrement too many leaves the counter at zero, as GitLab's DECR-then-delete does.
    app.shell_post("/api/v4/internal/post_receive", &post)
        .await
        .assert_snapshot(200, "post_receive_decreased");
    assert_eq!(counter(&app, "project-26").await, 0);
}

async fn an_expired_counter_starts_again(app: TestApp) {
    use gl_store::{Condition, Item, WriteOp, keys};
    // A push that never reported back, 600 s ago: DynamoDB may still hold the item.
    let stale = Item::new(keys::reference_counter("project-28"), &json!({"count": 5}))
        .with("ttl", chrono::Utc::now().timestamp() - 10);
    app.repo
        .store()
        .write(vec![WriteOp::Put {
            item: stale,
            condition: Condition::None,
        }])
        .await
        .unwrap();
    assert_eq!(counter(&app, "project-28").await, 0);
    pre_receive(&app, "project-28").await;
    assert_eq!(counter(&app, "project-28").await, 1);
    app.shell_post(
        "/api/v4/internal/pre_receive",
        &json!({"gl_repository": "project-28"}),
    )
    .await;
    assert_eq!(counter(&app, "project-28").await, 2);
}

async fn post_receive_links_merge_requests_for_pushed_branches(app: TestApp) {
    // Gitaly's map, keys sorted; push_options null when there are none.
    let changes = format!(
        "{ZERO} {NEW} refs/heads/feature/a+b&é\n{ZERO} {NEW} refs/heads/main\n{NEW} {ZERO} refs/heads/gone\n{ZERO} {NEW} refs/tags/v9\n"
    );
    let raw = json!({"changes": changes, "gl_repository": "project-26", "identifier": "user-2", "push_options": ["ci.skip"]});
    app.shell_post("/api/v4/internal/post_receive", &raw)
        .await
        .assert_snapshot(200, "post_receive_merge_request_links");
    // Unparsable lines are skipped after the fact; unknown repositories still count down.
    let noisy = json!({"changes": format!("garbage\n{ZERO} {NEW} refs/heads/x\n"), "gl_repository": "project-26"});
    let json = app
        .shell_post("/api/v4/internal/post_receive", &noisy)
        .await
        .json();
    assert_eq!(json["messages"].as_array().unwrap().len(), 1, "{json}");
    for gl_repository in ["project-999", "wiki-26", ""] {
        let body = json!({"changes": changes, "gl_repository": gl_repository, "identifier": "key-3", "push_options": null});
        app.shell_post("/api/v4/internal/post_receive", &body)
            .await
            .assert_snapshot(200, "post_receive_decreased");
    }
}

async fn hooks_need_the_shell_jwt_and_stay_in_budget(app: TestApp) {
    use axum::http::Method;
    for path in [
        "/api/v4/internal/pre_receive",
        "/api/v4/internal/post_receive",
        "/api/v4/internal/allowed",
    ] {
        app.send(shell_request(Method::POST, path, "bad"))
            .await
            .assert_snapshot(401, "unauthorized");
    }
    app.take_round_trips();
    app.shell_post(
        "/api/v4/internal/pre_receive",
        &json!({"gl_repository": "project-26"}),
    )
    .await;
    assert_eq!(app.take_round_trips(), 1);
    app.shell_post(
        "/api/v4/internal/post_receive",
        &json!({"gl_repository": "project-26", "changes": format!("{ZERO} {NEW} refs/heads/x\n")}),
    )
    .await;
    assert_eq!(app.take_round_trips(), 1, "decrement and reads overlap");
}
