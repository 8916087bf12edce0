//! Seed files: idempotent imports, and bad files that import nothing.

use std::path::Path;

use crate::support::*;

async fn empty(backend: Backend) -> Option<TestApp> {
    TestApp::empty(backend).await
}

async fn imports_twice_without_change(backend: Backend) {
    let Some(app) = empty(backend).await else {
        return;
    };
    let first = local_api::import_seed_bytes(&app.repo, WORLD.as_bytes(), Path::new("w.json"))
        .await
        .unwrap();
    assert!(
        first.written > 10 && first.already_present == 0,
        "{first:?}"
    );
    let before = app.repo.identity().user_by_id(1).await.unwrap().unwrap();
    let second = local_api::import_seed_bytes(&app.repo, WORLD.as_bytes(), Path::new("w.json"))
        .await
        .unwrap();
    assert_eq!(second.written, 0, "{second:?}");
    assert_eq!(second.already_present, first.written);
    assert_eq!(
        app.repo.identity().user_by_id(1).await.unwrap().unwrap(),
        before
    );
}

async fn bad_field_imports_nothing(backend: Backend) {
    let Some(app) = empty(backend).await else {
        return;
    };
    let mut world: serde_json::Value = serde_json::from_str(WORLD).unwrap();
    world["projects"][0]["visibility"] = "secret".into();
    let error = local_api::import_seed_bytes(
        &app.repo,
        world.to_string().as_bytes(),
        Path::new("bad.json"),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with("seed file bad.json: projects[0]: visibility: unknown variant `secret`"),
        "{error}"
    );
    assert!(app.repo.identity().user_by_id(1).await.unwrap().is_none());
    assert!(!app.repo.seeding().has_been_seeded().await.unwrap());

    let mut world: serde_json::Value = serde_json::from_str(WORLD).unwrap();
    world["keys"][1]["key"] = "ssh-rsa AAAAnotakey".into();
    let error = local_api::import_seed_bytes(
        &app.repo,
        world.to_string().as_bytes(),
        Path::new("bad.json"),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error
            .starts_with("seed file bad.json: keys[1] (id 2): key: not a valid OpenSSH public key"),
        "{error}"
    );
    assert!(app.repo.identity().user_by_id(1).await.unwrap().is_none());
}

async fn conflicting_records_are_reported(backend: Backend) {
    let Some(app) = empty(backend).await else {
        return;
    };
    local_api::import_seed_bytes(&app.repo, WORLD.as_bytes(), Path::new("w.json"))
        .await
        .unwrap();
    // Another user id wanting an existing username.
    let other =
        r#"{"users":[{"id":50,"username":"ROOT","name":"Imposter","email":"x@example.com"}]}"#;
    let error = local_api::import_seed_bytes(&app.repo, other.as_bytes(), Path::new("other.json"))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("user 50: conflicts"), "{error}");
    assert!(
        app.repo.identity().user_by_id(50).await.unwrap().is_none(),
        "the conflicting transaction wrote nothing"
    );
}

#[tokio::test]
async fn seed_is_idempotent_embedded() {
    imports_twice_without_change(Backend::Embedded).await;
}

#[tokio::test]
async fn seed_is_idempotent_dynamodb() {
    imports_twice_without_change(Backend::Dynamo).await;
}

#[tokio::test]
async fn bad_seed_imports_nothing_embedded() {
    bad_field_imports_nothing(Backend::Embedded).await;
}

#[tokio::test]
async fn bad_seed_imports_nothing_dynamodb() {
    bad_field_imports_nothing(Backend::Dynamo).await;
}

#[tokio::test]
async fn seed_conflicts_embedded() {
    conflicting_records_are_reported(Backend::Embedded).await;
}

#[tokio::test]
async fn seed_conflicts_dynamodb() {
    conflicting_records_are_reported(Backend::Dynamo).await;
}
