//! The shell family: the endpoints GitLab Shell and Gitaly call under `/api/v4/internal`, all
//! behind the GitLab Shell JWT (`API::Internal::Base`).

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};

use gl_http::AppState;

mod account;
pub mod actor;
mod allowed;
mod audit;
mod authorized_keys;
mod check;
mod discover;
pub mod gitaly;
mod lfs;
mod params;
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
            "/api/v4/internal/lfs_authenticate",
            post(lfs::lfs_authenticate),
        )
        .route(
            "/api/v4/internal/shellhorse/git_audit_event",
            post(audit::git_audit_event),
        )
        .route(
            "/api/v4/internal/two_factor_recovery_codes",
            post(account::two_factor_recovery_codes),
        )
        .route(
            "/api/v4/internal/personal_access_token",
            post(account::personal_access_token),
        )
        .route(
            "/api/v4/internal/two_factor_manual_otp_check",
            post(account::otp_check_unavailable),
        )
        .route(
            "/api/v4/internal/two_factor_push_otp_check",
            post(account::otp_check_unavailable),
        )
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
