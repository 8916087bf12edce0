//! The GitLab.com Admin Area's storage limit exclusions (`ee/lib/ee/api/namespaces.rb`):
//! list them, exclude a root namespace from the storage limit, and remove an exclusion.
//! Admin personal access tokens only; GitLab.com only.

use axum::Router;
use axum::routing::{get, post};

use gl_http::AppState;
use gl_model::Settings;

mod pagination;
mod storage_limit_exclusion;
mod storage_limit_exclusions;

pub fn router(state: AppState) -> Router {
    gl_http::request_log::family(
        "admin",
        Router::new()
            .route(
                "/api/v4/namespaces/storage/limit_exclusions",
                get(storage_limit_exclusions::index),
            )
            .route(
                "/api/v4/namespaces/{id}/storage/limit_exclusion",
                post(storage_limit_exclusion::create).delete(storage_limit_exclusion::destroy),
            )
            .with_state(state),
    )
}

/// `forbidden!('this API is for GitLab.com only') unless should_check_namespace_plan?`,
/// checked right after `authenticated_as_admin!`.
fn gitlab_com_only(settings: &Settings) -> Result<(), gl_http::ApiError> {
    if settings.gitlab_com {
        Ok(())
    } else {
        Err(gl_http::ApiError::Forbidden(Some(
            "this API is for GitLab.com only".to_owned(),
        )))
    }
}
