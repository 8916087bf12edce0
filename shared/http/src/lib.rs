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
pub mod secrets;
pub mod seed;
pub mod state;

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
/// unknown paths and methods, and request tracing.
pub fn with_gitlab_fallbacks(router: Router) -> Router {
    router
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn(error::log_failures))
}

/// Logs as GitLab does: JSON lines in Lambda (CloudWatch), compact text locally; level from
/// `RUST_LOG`, `info` by default.
pub fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if json {
        builder.json().flatten_event(true).without_time().try_init()
    } else {
        builder.compact().try_init()
    };
}
