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
mod authorized_keys;
mod check;
mod discover;
mod git_audit_event;
pub mod gitaly;
// Public (hidden) for infra/fuzz's `gitaly_client_context` target.
#[doc(hidden)]
pub mod gitaly_client_context;
mod lfs_authenticate;
mod personal_access_token;
mod post_receive;
mod pre_receive;
mod two_factor_otp_check;
mod two_factor_recovery_codes;

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
    router_with(state, Arc::new(gitaly::GitalyClient::default()))
}

/// The routes with a chosen Gitaly port (tests use one that answers).
pub fn router_with(app: AppState, ancestry: Arc<dyn gitaly::Ancestry>) -> Router {
    gl_http::request_log::family(
        "shell",
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
                post(lfs_authenticate::lfs_authenticate),
            )
            .route(
                "/api/v4/internal/shellhorse/git_audit_event",
                post(git_audit_event::git_audit_event),
            )
            .route(
                "/api/v4/internal/two_factor_recovery_codes",
                post(two_factor_recovery_codes::two_factor_recovery_codes),
            )
            .route(
                "/api/v4/internal/personal_access_token",
                post(personal_access_token::personal_access_token),
            )
            .route(
                "/api/v4/internal/two_factor_manual_otp_check",
                post(two_factor_otp_check::otp_check_unavailable),
            )
            .route(
                "/api/v4/internal/two_factor_push_otp_check",
                post(two_factor_otp_check::otp_check_unavailable),
            )
            .route(
                "/api/v4/internal/pre_receive",
                post(pre_receive::pre_receive),
            )
            .route(
                "/api/v4/internal/post_receive",
                post(post_receive::post_receive),
            )
            .with_state(ShellState { app, ancestry }),
    )
}
