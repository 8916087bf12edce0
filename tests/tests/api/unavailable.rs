//! A store that cannot be reached: a prompt 503 JSON for reads, `redis: false` on `/check`,
//! never a hang or a panic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gl_store::dynamodb::{DynamoConfig, DynamoStore};

use crate::support::*;
use crate::{query_escape, world_blob};

async fn unreachable_app() -> TestApp {
    // Nothing listens on port 9 of loopback (discard; closed here), so connections are refused.
    let store = DynamoStore::connect(&DynamoConfig {
        table: "unreachable".into(),
        endpoint: Some("http://127.0.0.1:9".into()),
        region: Some("us-east-1".into()),
        timeouts: Default::default(),
        http_client: None,
    })
    .await;
    TestApp::over(Arc::new(store), None)
}

#[tokio::test]
async fn reads_answer_503_promptly() {
    let app = unreachable_app().await;
    let started = Instant::now();
    for path in [
        format!(
            "/api/v4/internal/authorized_keys?key={}",
            query_escape(&world_blob(0))
        ),
        "/api/v4/internal/discover?key_id=1".to_owned(),
        "/api/v4/internal/discover?username=root".to_owned(),
    ] {
        app.shell_get(&path)
            .await
            .assert_snapshot(503, "store_unavailable");
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn check_says_the_store_is_down() {
    let app = unreachable_app().await;
    let response = app.shell_get("/api/v4/internal/check").await;
    assert_eq!(response.status.as_u16(), 200);
    assert_eq!(response.json()["redis"], false);
}

/// A table that is not there (not created yet, or deleted) is the service being unavailable,
/// not a fault of the request: 503.
#[tokio::test]
async fn a_missing_table_answers_503() {
    let Some(endpoint) = dynamo_endpoint() else {
        return;
    };
    let store = DynamoStore::connect(&DynamoConfig {
        table: format!("missing-{}", std::process::id()),
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        timeouts: gl_store::dynamodb::Timeouts::EMULATOR,
        http_client: None,
    })
    .await;
    let app = TestApp::over(Arc::new(store), None);
    app.shell_get("/api/v4/internal/discover?key_id=1")
        .await
        .assert_snapshot(503, "store_unavailable");
}
