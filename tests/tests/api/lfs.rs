//! `POST /internal/lfs_authenticate`.

use serde_json::json;

use crate::support::*;
use gl_store::repo::shell::LfsToken;

const LFS: &str = "/api/v4/internal/lfs_authenticate";

on_both_backends!(
    credentials_for_users_and_deploy_keys,
    lfs_errors_in_gitlab_order,
    lfs_within_budget
);

async fn credentials_for_users_and_deploy_keys(app: TestApp) {
    let response = app
        .shell_post(
            LFS,
            &json!({"operation": "download", "project": "/group/private.git", "key_id": "2"}),
        )
        .await;
    assert_eq!(response.status.as_u16(), 200, "{}", response.text);
    let body = response.json();
    let token = body["lfs_token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 40);
    assert_eq!(
        response.text,
        format!(
            r#"{{"username":"Alice","lfs_token":"{token}","repository_http_path":"https://gitlab.example.com:8443/group/private.git","expires_in":7200}}"#
        )
    );
    let stored = app
        .repo
        .shell()
        .lfs_token(&gl_auth::token_digest(&token))
        .await
        .unwrap();
    let expected = LfsToken {
        actor: "key-2".to_owned(),
        project_id: 26,
    };
    assert_eq!(stored, Some(expected));
    assert_eq!(
        app.repo.shell().lfs_token(&token).await.unwrap(),
        None,
        "stored as a digest only"
    );

    let deploy = app
        .shell_post(
            LFS,
            &json!({"operation": "upload", "project": "group/private", "key_id": "3"}),
        )
        .await
        .json();
    assert_eq!(deploy["username"], "lfs+deploy-key-3");
    let by_user = app
        .shell_post(LFS, &json!({"project": "group/private", "user_id": "2"}))
        .await
        .json();
    assert_eq!(by_user["username"], "Alice");
    // A wiki's LFS objects live under the wiki's own clone URL.
    let wiki = app
        .shell_post(
            LFS,
            &json!({"project": "/group/private.wiki.git", "key_id": "2"}),
        )
        .await
        .json();
    assert_eq!(
        wiki["repository_http_path"],
        "https://gitlab.example.com:8443/group/private.wiki.git"
    );
}

async fn lfs_errors_in_gitlab_order(app: TestApp) {
    // No project or no LFS: 404 before the actor is even looked at.
    for (project, who) in [
        ("group/subgroup/public-proj", "2"),
        ("group/nope", "2"),
        ("group/nope", "999"),
    ] {
        app.shell_post(LFS, &json!({"project": project, "key_id": who}))
            .await
            .assert_snapshot(404, "not_found");
    }
    app.shell_post(LFS, &json!({"project": "group/private", "key_id": "999"}))
        .await
        .assert_snapshot(404, "not_found_lowercase");
    app.shell_post(LFS, &json!({"project": "group/private"}))
        .await
        .assert_snapshot(404, "not_found_lowercase");
}

async fn lfs_within_budget(app: TestApp) {
    app.take_round_trips();
    let response = app
        .shell_post(LFS, &json!({"project": "group/private", "key_id": "2"}))
        .await;
    assert_eq!(response.status.as_u16(), 200);
    assert_eq!(app.take_round_trips(), 2);
}
