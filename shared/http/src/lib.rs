//! HTTP glue shared by every family: the error type that renders GitLab's bodies, Grape-like
//! parameters and their declarations, the authentication extractors, configuration read once at start, tracing, and
//! the adapters that run one router in Lambda, in the local server and in tests.

pub mod admin;
pub mod billing;
pub mod config;
pub mod error;
pub mod grape;
pub mod lambda;
pub mod params;
pub mod request_log;
pub mod secrets;
pub mod seed;
pub mod state;
pub mod timing;

pub use config::Config;
pub use error::ApiError;
pub use grape::Declared;
pub use params::Params;
pub use state::{
    AgentAuthenticated, AgentTokenPresented, AppState, InstanceInfo, KasJwtVerified,
    ShellJwtVerified, verify_shell_jwt,
};

use axum::Router;

/// The largest request body accepted. GitLab Shell and Gitaly send small JSON bodies; the
/// biggest real one is a push's `changes`, about 100 bytes per ref.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Adds what every deployed router needs around the family routes: GitLab's JSON answers for
/// unknown paths and methods, a 500 for a panic (the process goes on), each answer's cost in a
/// `Server-Timing` header, and one log line per request.
pub fn with_gitlab_fallbacks(router: Router) -> Router {
    router
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn(error::catch_panics))
        .layer(axum::middleware::from_fn(timing::server_timing))
        .layer(axum::middleware::from_fn(request_log::log_request))
}

/// Logs as GitLab does: JSON lines in Lambda (CloudWatch), compact text locally; levels from
/// `RUST_LOG` (`info` by default), as a default level and `target=level` directives. A
/// `Targets` filter reads those without a regular-expression engine, which an `EnvFilter`
/// would link into every function (several hundred KB) for span and field filters no one
/// sets here.
pub fn init_tracing(json: bool) {
    init_tracing_from(json, std::env::var("RUST_LOG").ok().as_deref());
}

fn log_filter(rust_log: Option<&str>) -> tracing_subscriber::filter::Targets {
    rust_log
        .and_then(|directives| directives.parse().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO)
        })
}

fn init_tracing_from(json: bool, rust_log: Option<&str>) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let registry = tracing_subscriber::registry().with(log_filter(rust_log));
    let layer = tracing_subscriber::fmt::layer().with_target(false);
    let _ = if json {
        registry
            .with(layer.json().flatten_event(true).without_time())
            .try_init()
    } else {
        registry.with(layer.compact()).try_init()
    };
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    async fn answer(router: &axum::Router, path: &str) -> (u16, String) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    async fn boom() -> &'static str {
        std::hint::black_box(None::<&'static str>).expect("a handler bug")
    }

    #[test]
    fn rust_log_sets_levels_by_target_and_defaults_to_info() {
        use tracing::Level;
        let default = super::log_filter(None);
        assert!(default.would_enable("shell", &Level::INFO));
        assert!(!default.would_enable("shell", &Level::DEBUG));
        let directives = super::log_filter(Some("warn,gl_http=debug"));
        assert!(directives.would_enable("gl_http::state", &Level::DEBUG));
        assert!(!directives.would_enable("shell", &Level::INFO));
        assert!(directives.would_enable("shell", &Level::WARN));
        let nonsense = super::log_filter(Some("=[]{}"));
        assert!(nonsense.would_enable("shell", &Level::INFO));
    }

    #[tokio::test]
    async fn a_panic_is_a_500_for_its_request_and_the_router_goes_on() {
        let router = super::with_gitlab_fallbacks(
            axum::Router::new()
                .route("/boom", get(boom))
                .route("/fine", get(|| async { "fine" })),
        );
        for _ in 0..3 {
            assert_eq!(
                answer(&router, "/boom").await,
                (500, r#"{"message":"500 Internal Server Error"}"#.to_owned())
            );
            assert_eq!(answer(&router, "/fine").await, (200, "fine".to_owned()));
        }
    }
}
