//! The shell family: the endpoints GitLab Shell and Gitaly call under `/api/v4/internal`, all
//! behind the GitLab Shell JWT (`API::Internal::Base`).

use axum::Router;
use axum::routing::get;

use gl_http::AppState;

pub mod actor;
mod authorized_keys;
mod check;
mod discover;

/// The family's routes on GitLab's absolute paths, for Lambda, the local server and tests.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v4/internal/check", get(check::check))
        .route("/api/v4/internal/discover", get(discover::discover))
        .route(
            "/api/v4/internal/authorized_keys",
            get(authorized_keys::authorized_keys),
        )
        .with_state(state)
}
