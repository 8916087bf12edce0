//! The shell family: the endpoints GitLab Shell and Gitaly call under `/api/v4/internal`, all
//! behind the GitLab Shell JWT (`API::Internal::Base`).

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};

use gl_http::AppState;

pub mod actor;
mod allowed;
mod authorized_keys;
mod check;
mod discover;
pub mod gitaly;
mod reference_counter;

/// The family's state: the shared one, plus the Gitaly port.
#[derive(Clone)]
pub struct ShellState {
    pub app: AppState,
    pub ancestry: Arc<dyn gitaly::Ancestry>,
}

impl FromRef<ShellState> for AppState {
    fn from_ref(state: &ShellState) -> Self {
        state.app.clone()
    }
}

/// The family's routes on GitLab's absolute paths, for Lambda, the local server and tests.
pub fn router(state: AppState) -> Router {
    router_with(state, Arc::new(gitaly::Unverified))
}

/// The routes with a chosen Gitaly port (tests use one that answers).
pub fn router_with(app: AppState, ancestry: Arc<dyn gitaly::Ancestry>) -> Router {
    Router::new()
        .route("/api/v4/internal/check", get(check::check))
        .route("/api/v4/internal/discover", get(discover::discover))
        .route(
            "/api/v4/internal/authorized_keys",
            get(authorized_keys::authorized_keys),
        )
        .route("/api/v4/internal/allowed", post(allowed::allowed))
        .route(
            "/api/v4/internal/pre_receive",
            post(reference_counter::pre_receive),
        )
        .route(
            "/api/v4/internal/post_receive",
            post(reference_counter::post_receive),
        )
        .with_state(ShellState { app, ancestry })
}
