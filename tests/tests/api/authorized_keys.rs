//! `GET /internal/authorized_keys?key=<blob>`.

use crate::support::*;
use crate::{query_escape, world_blob};

on_both_backends!(
    finds_a_key_by_its_blob_padded_or_not,
    publishes_the_key_without_its_comment,
    deploy_keys_are_found_too,
    unknown_partial_garbage_and_signing_keys_are_404,
    a_missing_key_parameter_is_a_400
);

async fn finds_a_key_by_its_blob_padded_or_not(app: TestApp) {
    let blob = world_blob(5);
    // Key 6, an ECDSA P-384 key: its blob ends in `==`, so padding matters.
    assert!(
        blob.ends_with("=="),
        "the fixture key must need padding for this test"
    );
    for sent in [
        query_escape(&blob),                          // OpenSSH %k through gitlab-shell
        query_escape(blob.trim_end_matches('=')),     // gitlab-sshd: RawStdEncoding
        blob.replace('+', "%2B").replace('/', "%2F"), // "=" left raw
    ] {
        let response = app
            .shell_get(&format!("/api/v4/internal/authorized_keys?key={sent}"))
            .await;
        response.assert_snapshot(200, "authorized_keys_padded_ecdsa");
    }
}

async fn publishes_the_key_without_its_comment(app: TestApp) {
    let response = app
        .shell_get(&format!(
            "/api/v4/internal/authorized_keys?key={}",
            query_escape(&world_blob(1))
        ))
        .await;
    assert_eq!(response.status.as_u16(), 200);
    let body = response.json();
    assert_eq!(body["id"], 2);
    assert_eq!(body["expires_at"], "2099-01-01T00:00:00.000Z");
    let key = body["key"].as_str().unwrap();
    assert_eq!(
        key,
        format!(
            "ssh-rsa {} Alice Liddell (gitlab.example.com)",
            world_blob(1)
        )
    );
    assert!(!key.contains("rsa@example.com") && !key.contains('\n'));
}

async fn deploy_keys_are_found_too(app: TestApp) {
    let blob = world_blob(2);
    app.shell_get(&format!(
        "/api/v4/internal/authorized_keys?key={}",
        query_escape(&blob)
    ))
    .await
    .assert_snapshot(200, "authorized_keys_deploy_key");
}

async fn unknown_partial_garbage_and_signing_keys_are_404(app: TestApp) {
    let blob = world_blob(0);
    for sent in [
        "AAAAC3NzaC1lZDI1NTE5AAAAIP7pVtF5bGIUEDYDuffYoxx5B8gMczRXG3eC3Sq5Y7Xa".to_owned(),
        query_escape(&blob[..blob.len() - 8]),
        "whatever!".to_owned(),
        String::new(),
        query_escape(&world_blob(3)),
    ] {
        let response = app
            .shell_get(&format!("/api/v4/internal/authorized_keys?key={sent}"))
            .await;
        response.assert_snapshot(404, "authorized_keys_not_found");
    }
}

async fn a_missing_key_parameter_is_a_400(app: TestApp) {
    app.shell_get("/api/v4/internal/authorized_keys")
        .await
        .assert_snapshot(400, "authorized_keys_key_missing");
    app.shell_get("/api/v4/internal/authorized_keys?other=1")
        .await
        .assert_snapshot(400, "authorized_keys_key_missing");
}
