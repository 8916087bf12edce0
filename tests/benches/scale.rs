//! Latency against the size of the store: `authorized_keys` (a key found by its fingerprint)
//! and a pull `/allowed` with the test world alone and with 10,000 and 100,000 more SSH keys
//! (one user per 100 keys) loaded through provisioning (`provision apply`'s own path, timed and
//! printed as well). On the in-memory embedded store always, and on the DynamoDB emulator too
//! when `DYNAMODB_TEST_ENDPOINT` is set (moto loads about 200 records/s, so there only up to
//! `SCALE_EMULATOR_KEYS`, default 10,000).
//!
//! `cargo bench -p api-tests --bench scale`; `-- --quick` for a short run. The answer should
//! not depend on the size: every lookup is one key, never a scan.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::Method;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

mod common;
use common::{MakeRequest, SECRET, WORLD, query_escape, shell, timed};
use serde_json::{Value, json};
use sha2::Digest as _;
use tower::ServiceExt as _;

use gl_store::dynamodb::{DynamoConfig, DynamoStore, Timeouts};
use gl_store::embedded::EmbeddedStore;
use gl_store::{Repository, Store};

/// The base64 blob of generated key `n`: an ed25519 public key whose 32 bytes are SHA-256(n).
fn blob(n: usize) -> String {
    use base64::Engine as _;
    let kind = b"ssh-ed25519";
    let mut raw = Vec::with_capacity(51);
    raw.extend_from_slice(&(kind.len() as u32).to_be_bytes());
    raw.extend_from_slice(kind);
    raw.extend_from_slice(&32u32.to_be_bytes());
    raw.extend_from_slice(&sha2::Sha256::digest(n.to_be_bytes()));
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// The test world with `keys` more keys, and users for them past the world's own ids.
fn world_with(keys: usize) -> Value {
    let mut world: Value = serde_json::from_str(WORLD).expect("the world fixture is JSON");
    let users = keys.div_ceil(100);
    let first_user = 1000;
    for u in 0..users {
        let id = first_user + u;
        world["users"]
            .as_array_mut()
            .expect("users")
            .push(json!({"id": id,
            "username": format!("scale{u}"), "name": format!("Scale {u}"),
            "email": format!("scale{u}@example.com")}));
    }
    for k in 0..keys {
        world["keys"]
            .as_array_mut()
            .expect("keys")
            .push(json!({"id": 100_000 + k,
            "user_id": first_user + k % users.max(1), "title": format!("scale {k}"),
            "key": format!("ssh-ed25519 {} scale{k}", blob(k))}));
    }
    world
}

/// A store holding the world with `keys` more keys, loaded through provisioning; how long
/// that took.
async fn loaded(store: Arc<dyn Store>, keys: usize) -> Duration {
    use futures_util::StreamExt as _;
    let repo = Repository::new(store);
    let started = Instant::now();
    let plan = gl_http::seed::plan(&repo, world_with(keys).to_string().as_bytes(), false)
        .await
        .expect("the world plans");
    let mut writes = futures_util::stream::iter(plan.changes)
        .map(|change| repo.provisioning().apply(change))
        .buffer_unordered(16);
    while let Some(result) = writes.next().await {
        result.expect("applies");
    }
    started.elapsed()
}

async fn emulator_store() -> Option<Arc<dyn Store>> {
    let endpoint = std::env::var("DYNAMODB_TEST_ENDPOINT").ok()?;
    let store = DynamoStore::connect(&DynamoConfig {
        table: format!("scale{}", chrono::Utc::now().timestamp_micros()),
        endpoint: Some(endpoint),
        region: Some("us-east-1".to_owned()),
        timeouts: Timeouts::EMULATOR,
        http_client: None,
    })
    .await;
    store
        .create_table_if_missing()
        .await
        .expect("the emulator creates the table");
    Some(Arc::new(store))
}

fn scale(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let emulator_keys: usize = std::env::var("SCALE_EMULATOR_KEYS")
        .ok()
        .and_then(|keys| keys.parse().ok())
        .unwrap_or(10_000);
    let mut group = c.benchmark_group("scale");
    let mut backends: Vec<(&str, usize)> =
        vec![("embedded", 0), ("embedded", 10_000), ("embedded", 100_000)];
    if std::env::var("DYNAMODB_TEST_ENDPOINT").is_ok() {
        backends.extend([("emulator", 0), ("emulator", emulator_keys)]);
    }
    for (backend, keys) in backends {
        let store: Arc<dyn Store> = match backend {
            "embedded" => Arc::new(EmbeddedStore::in_memory()),
            _ => runtime
                .block_on(emulator_store())
                .expect("DYNAMODB_TEST_ENDPOINT is set"),
        };
        let took = runtime.block_on(loaded(Arc::clone(&store), keys));
        println!("{backend}: the world and {keys} keys loaded through provisioning in {took:.1?}");
        let router: Router = local_api::app(local_api::state(store, SECRET));
        // The last key provisioned, or the world's first one.
        let key = if keys > 0 {
            blob(keys - 1)
        } else {
            world_with(0)["keys"][0]["key"]
                .as_str()
                .and_then(|key| key.split_whitespace().nth(1))
                .expect("a key")
                .to_owned()
        };
        let keys_uri = format!(
            "/api/v4/internal/authorized_keys?key={}",
            query_escape(&key)
        );
        let pull = json!({"action": "git-upload-pack", "project": "group/private", "key_id": "2",
                          "changes": "_any", "protocol": "ssh"});
        let cases: Vec<(&str, MakeRequest)> = vec![
            (
                "authorized_keys",
                Box::new(move || shell(Method::GET, &keys_uri, None)),
            ),
            (
                "allowed (pull)",
                Box::new(move || shell(Method::POST, "/api/v4/internal/allowed", Some(&pull))),
            ),
        ];
        for (name, make) in cases {
            let answer = runtime
                .block_on(router.clone().oneshot(make()))
                .expect("infallible");
            assert_eq!(answer.status().as_u16(), 200, "{backend} {keys} {name}");
            group.bench_function(
                BenchmarkId::new(format!("{name}, {backend}"), format!("{keys} keys")),
                |b| {
                    b.iter_custom(|iterations| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iterations {
                            total += timed(&runtime, &router, make());
                        }
                        total
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = scale
}
criterion_main!(benches);
