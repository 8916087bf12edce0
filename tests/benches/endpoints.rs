//! What our own code costs per request: each hot endpoint driven in process through the merged
//! router on the in-memory store, with its real authentication (JWT verification, agent token
//! and personal access token lookups, SCIM bearer tokens) and no sockets. Criterion estimates the mean; every request is also timed alone,
//! so that the summary printed at the end (and written to
//! `target/criterion/endpoints-summary.md`) gives the median and the 99th percentile.
//!
//! `cargo bench -p api-tests --bench endpoints`; `-- --quick` for a short run. Requests are
//! built (JWT minted, body serialised) outside the timed part.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

mod common;
use common::{MakeRequest, SECRET, WORLD, query_escape, shell, timed};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const KAS_KEY: &[u8; 32] = b"0123456789abcdef0123456789abcdef";
const AGENT_TOKEN: &str = "agent-token-plaintext";
const ZEROS: &str = "0000000000000000000000000000000000000000";

/// The world's first key (root's), as `/authorized_keys` is asked for it.
fn first_key_blob() -> String {
    let world: Value = serde_json::from_str(WORLD).expect("the world fixture is JSON");
    let key = world["keys"][0]["key"].as_str().expect("a key");
    key.split_whitespace().nth(1).expect("a blob").to_owned()
}

async fn router() -> Router {
    let store = gl_http::seed::in_memory_store(WORLD)
        .await
        .expect("the world imports");
    let state = local_api::state(store, SECRET).with_kas_secret(Some(KAS_KEY));
    local_api::app(state)
}

fn kas(method: Method, uri: &str, body: Option<&Value>) -> Request<Body> {
    let jwt = gl_auth::mint_kas_jwt(KAS_KEY, chrono::Utc::now().timestamp());
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("User-Agent", "gitlab-kas/v17.6.0/abc123")
        .header("Gitlab-Kas-Api-Request", jwt)
        .header("Authorization", format!("Bearer {AGENT_TOKEN}"));
    if body.is_some() {
        request = request.header("Content-Type", "application/json");
    }
    request
        .body(body.map_or_else(Body::empty, |body| Body::from(body.to_string())))
        .expect("request builds")
}

/// A call as CustomersDot's admin automation makes it, with the world's admin token.
fn admin(method: Method, uri: &str, body: Option<&Value>) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("Content-Type", "application/json")
        .header("PRIVATE-TOKEN", "pat-plaintext")
        .body(body.map_or_else(Body::empty, |body| Body::from(body.to_string())))
        .expect("request builds")
}

/// A call as Okta makes it to the group's SCIM endpoint, with the world's group token.
fn scim(method: Method, uri: &str, body: Option<&Value>) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("User-Agent", "Okta SCIM Client 1.0.0")
        .header("Accept", "application/scim+json")
        .header("Content-Type", "application/scim+json; charset=utf-8")
        .header("Authorization", "Bearer scim-group")
        .body(body.map_or_else(Body::empty, |body| Body::from(body.to_string())))
        .expect("request builds")
}

const SUBSCRIPTION: &str = "/api/v4/namespaces/10/gitlab_subscription";
const SCIM_USERS: &str = "/api/scim/v2/groups/group/Users";

/// What the billing and SCIM reads find: a premium subscription on the group, and a user
/// its identity provider created. Written once, through the API, before anything is timed.
fn setup_requests() -> Vec<(Request<Body>, u16)> {
    let premium = json!({"start_date": "2026-01-15", "end_date": "2036-01-15",
                         "plan_code": "premium", "seats": 10, "auto_renew": true});
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "jane.doe@example.com", "externalId": "jane-idp",
        "name": {"givenName": "Jane", "familyName": "Doe"},
        "emails": [{"primary": true, "value": "jane.doe@example.com", "type": "work"}],
        "active": true
    });
    vec![
        (admin(Method::POST, SUBSCRIPTION, Some(&premium)), 201),
        (scim(Method::POST, SCIM_USERS, Some(&user)), 201),
    ]
}

/// A push by Alice (key 2, a Developer) creating `refs` branches in `group/private`: what
/// `/allowed` checks per ref without asking Gitaly (creations never rewrite history).
fn push(refs: usize) -> Value {
    let changes: Vec<String> = (0..refs)
        .map(|i| format!("{ZEROS} {:040x} refs/heads/bench-{i}", i + 1))
        .collect();
    json!({"action": "git-receive-pack", "project": "group/private", "key_id": "2",
           "changes": changes.join("\n"), "protocol": "ssh"})
}

/// The endpoints measured: name, request, and the status every answer must have.
fn cases() -> Vec<(String, MakeRequest, u16)> {
    let authorized_keys = format!(
        "/api/v4/internal/authorized_keys?key={}",
        query_escape(&first_key_blob())
    );
    let pull = json!({"action": "git-upload-pack", "project": "group/private", "key_id": "2",
                      "changes": "_any", "protocol": "ssh"});
    let post_receive = json!({"changes": format!("{ZEROS} {:040x} refs/heads/main", 1),
        "gl_repository": "project-26", "identifier": "key-2", "push_options": null});
    let usage = json!({"counters": {"k8s_api_proxy_request": 3},
                       "unique_counters": {"k8s_api_proxy_requests_unique_users_via_ci_access": [1, 2]}});
    let mut cases: Vec<(String, MakeRequest, u16)> = vec![
        (
            "authorized_keys".into(),
            Box::new(move || shell(Method::GET, &authorized_keys, None)),
            200,
        ),
        (
            "discover".into(),
            Box::new(|| shell(Method::GET, "/api/v4/internal/discover?key_id=2", None)),
            200,
        ),
        (
            "allowed (pull)".into(),
            Box::new(move || shell(Method::POST, "/api/v4/internal/allowed", Some(&pull))),
            200,
        ),
    ];
    for refs in [1, 100, 1000] {
        let body = push(refs);
        cases.push((
            format!("allowed (push, {refs} refs)"),
            Box::new(move || shell(Method::POST, "/api/v4/internal/allowed", Some(&body))),
            200,
        ));
    }
    cases.push((
        "post_receive".into(),
        Box::new(move || {
            shell(
                Method::POST,
                "/api/v4/internal/post_receive",
                Some(&post_receive),
            )
        }),
        200,
    ));
    cases.push((
        "agent_info".into(),
        Box::new(|| kas(Method::GET, "/api/v4/internal/kubernetes/agent_info", None)),
        200,
    ));
    cases.push((
        "usage_metrics".into(),
        Box::new(move || {
            kas(
                Method::POST,
                "/api/v4/internal/kubernetes/usage_metrics",
                Some(&usage),
            )
        }),
        204,
    ));
    cases.push((
        "gitlab_subscription".into(),
        Box::new(|| admin(Method::GET, SUBSCRIPTION, None)),
        200,
    ));
    cases.push((
        "SCIM user by externalId".into(),
        Box::new(|| scim(Method::GET, &format!("{SCIM_USERS}/jane-idp"), None)),
        200,
    ));
    cases.push((
        "SCIM users filtered by userName".into(),
        Box::new(|| {
            scim(
                Method::GET,
                &format!("{SCIM_USERS}?filter=userName%20eq%20%22jane.doe%40example.com%22"),
                None,
            )
        }),
        200,
    ));
    cases
}

/// Every request's own time, per endpoint, for the percentiles criterion does not give.
type Samples = Arc<Mutex<Vec<(String, Vec<Duration>)>>>;

fn endpoints(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let router = runtime.block_on(router());
    for (request, status) in setup_requests() {
        let answer = runtime
            .block_on(router.clone().oneshot(request))
            .expect("infallible");
        assert_eq!(answer.status().as_u16(), status, "setting up the world");
    }
    let samples: Samples = Arc::default();
    let mut group = c.benchmark_group("endpoints");
    for (name, make, status) in cases() {
        // One answer checked before timing: a benchmark of a refusal would measure nothing.
        let answer = runtime
            .block_on(router.clone().oneshot(make()))
            .expect("infallible");
        assert_eq!(answer.status().as_u16(), status, "{name}");
        let mut times = Vec::new();
        group.bench_function(BenchmarkId::from_parameter(&name), |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let took = timed(&runtime, &router, make());
                    total += took;
                    times.push(took);
                }
                total
            });
        });
        samples.lock().expect("not poisoned").push((name, times));
    }
    group.finish();
    summarise(&samples.lock().expect("not poisoned"));
}

/// The median and 99th percentile of every request timed, as a Markdown table.
fn summarise(samples: &[(String, Vec<Duration>)]) {
    let mut table =
        String::from("| endpoint | requests timed | median | p99 |\n|---|---|---|---|\n");
    for (name, times) in samples {
        let mut times = times.clone();
        if times.is_empty() {
            continue;
        }
        times.sort();
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        table.push_str(&format!(
            "| {name} | {} | {:.1} µs | {:.1} µs |\n",
            times.len(),
            at(0.5).as_secs_f64() * 1e6,
            at(0.99).as_secs_f64() * 1e6
        ));
    }
    println!("\n{table}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/criterion/endpoints-summary.md");
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let _ = std::fs::write(path, table);
}

criterion_group!(benches, endpoints);
criterion_main!(benches);
