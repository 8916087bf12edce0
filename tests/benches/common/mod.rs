//! What the benchmarks share: GitLab Shell's request as it is sent, key escaping as its Go
//! client escapes, and one request timed alone through a router.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::Value;
use tower::ServiceExt as _;

pub const SECRET: &[u8] = b"default-secret-content";
pub const WORLD: &str = include_str!("../../fixtures/world.json");

/// Builds one request; called outside the timed part.
pub type MakeRequest = Box<dyn Fn() -> Request<Body>>;

/// A request as GitLab Shell sends it, with a fresh JWT.
pub fn shell(method: Method, uri: &str, body: Option<&Value>) -> Request<Body> {
    let jwt = gl_auth::mint_shell_jwt(SECRET, chrono::Utc::now().timestamp(), 60);
    Request::builder()
        .method(method)
        .uri(uri)
        .header("Content-Type", "application/json")
        .header("User-Agent", "GitLab-Shell")
        .header("Gitlab-Shell-Api-Request", jwt)
        .body(body.map_or_else(Body::empty, |body| Body::from(body.to_string())))
        .expect("request builds")
}

/// Percent-escapes a key blob for a query string.
pub fn query_escape(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// The time of one request through `router`, its answer read to the end.
pub fn timed(
    runtime: &tokio::runtime::Runtime,
    router: &Router,
    request: Request<Body>,
) -> Duration {
    let router = router.clone();
    let started = Instant::now();
    let body = runtime.block_on(async move {
        let response = router.oneshot(request).await.expect("infallible");
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body")
    });
    let took = started.elapsed();
    std::hint::black_box(body);
    took
}
