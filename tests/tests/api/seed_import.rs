//! Seed files: idempotent imports, and bad files that import nothing.

use std::path::Path;

use crate::support::*;

on_both_backends!(unseeded:
    imports_twice_without_change,
    bad_field_imports_nothing,
    conflicting_records_are_reported,
);

/// The error importing `seed` as the file `name` fails with.
async fn import_error(app: &TestApp, seed: &str, name: &str) -> String {
    local_api::import_seed_bytes(&app.repo, seed.as_bytes(), Path::new(name))
        .await
        .unwrap_err()
        .to_string()
}

async fn imports_twice_without_change(app: TestApp) {
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

async fn bad_field_imports_nothing(app: TestApp) {
    let mut world: serde_json::Value = serde_json::from_str(WORLD).unwrap();
    world["projects"][0]["visibility"] = "secret".into();
    let error = import_error(&app, &world.to_string(), "bad.json").await;
    assert!(
        error.starts_with("seed file bad.json: projects[0]: visibility: unknown variant `secret`"),
        "{error}"
    );
    assert!(app.repo.identity().user_by_id(1).await.unwrap().is_none());
    assert!(!app.repo.seeding().has_been_seeded().await.unwrap());

    let mut world: serde_json::Value = serde_json::from_str(WORLD).unwrap();
    world["keys"][1]["key"] = "ssh-rsa AAAAnotakey".into();
    let error = import_error(&app, &world.to_string(), "bad.json").await;
    assert!(
        error
            .starts_with("seed file bad.json: keys[1] (id 2): key: not a valid OpenSSH public key"),
        "{error}"
    );
    assert!(app.repo.identity().user_by_id(1).await.unwrap().is_none());
}

async fn conflicting_records_are_reported(app: TestApp) {
    local_api::import_seed_bytes(&app.repo, WORLD.as_bytes(), Path::new("w.json"))
        .await
        .unwrap();
    // Another user id wanting an existing username.
    let other =
        r#"{"users":[{"id":50,"username":"ROOT","name":"Imposter","email":"x@example.com"}]}"#;
    let error = import_error(&app, other, "other.json").await;
    assert!(error.contains("user 50: conflicts"), "{error}");
    assert!(
        app.repo.identity().user_by_id(50).await.unwrap().is_none(),
        "the conflicting transaction wrote nothing"
    );
}
