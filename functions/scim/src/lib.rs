//! SCIM provisioning (`ee/lib/api/scim/group_scim.rb`, `instance_scim.rb`): identity
//! providers (Okta, Microsoft Entra ID, generic SCIM clients) create, find, deactivate and
//! reactivate the users of a group (`/api/scim/v2/groups/:group_path`) or of the instance
//! (`/api/scim/v2/application`), with the group's or the instance's SCIM token. Every
//! answer, errors included, is `application/scim+json`.

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{MethodRouter, any, get};

use gl_http::{ApiError, AppState};

mod access;
// `attributes`, `params` and `username` are public (hidden) for infra/fuzz's targets.
#[doc(hidden)]
pub mod attributes;
mod deprovision;
mod discovery;
#[doc(hidden)]
pub mod params;
mod resource;
#[doc(hidden)]
pub mod username;
mod users;

/// A SCIM path with methods it does not serve: SCIM's 405.
async fn method_not_allowed() -> Response {
    use axum::response::IntoResponse;
    access::scim_error(StatusCode::METHOD_NOT_ALLOWED, "405 Method Not Allowed").into_response()
}

/// A path under the SCIM API that names nothing: SCIM's 404.
async fn not_found() -> Result<Response, ApiError> {
    Err(access::scim_error(StatusCode::NOT_FOUND, "404 Not Found"))
}

fn scim(route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    route.fallback(method_not_allowed)
}

/// Routes are spelled out whole for both bases, as the template's checks read them.
pub fn router(state: AppState) -> Router {
    gl_http::request_log::family(
        "scim",
        Router::new()
            .route(
                "/api/scim/v2/groups/{group_path}/Users",
                scim(get(users::index).post(users::create)),
            )
            .route(
                "/api/scim/v2/groups/{group_path}/Users/{id}",
                scim(get(users::show).patch(users::update).delete(users::destroy)),
            )
            .route(
                "/api/scim/v2/groups/{group_path}/ServiceProviderConfig",
                scim(get(discovery::service_provider)),
            )
            .route(
                "/api/scim/v2/groups/{group_path}/ResourceTypes",
                scim(get(discovery::resource_types)),
            )
            .route(
                "/api/scim/v2/groups/{group_path}/ResourceTypes/{resource_type}",
                scim(get(discovery::resource_type)),
            )
            .route(
                "/api/scim/v2/groups/{group_path}/Schemas",
                scim(get(discovery::schemas)),
            )
            .route(
                "/api/scim/v2/groups/{group_path}/Schemas/{schema_id}",
                scim(get(discovery::schema)),
            )
            .route(
                "/api/scim/v2/application/Users",
                scim(get(users::index).post(users::create)),
            )
            .route(
                "/api/scim/v2/application/Users/{id}",
                scim(get(users::show).patch(users::update).delete(users::destroy)),
            )
            .route(
                "/api/scim/v2/application/ServiceProviderConfig",
                scim(get(discovery::service_provider)),
            )
            .route(
                "/api/scim/v2/application/ResourceTypes",
                scim(get(discovery::resource_types)),
            )
            .route(
                "/api/scim/v2/application/ResourceTypes/{resource_type}",
                scim(get(discovery::resource_type)),
            )
            .route(
                "/api/scim/v2/application/Schemas",
                scim(get(discovery::schemas)),
            )
            .route(
                "/api/scim/v2/application/Schemas/{schema_id}",
                scim(get(discovery::schema)),
            )
            .route("/api/scim/v2/{*rest}", any(not_found))
            .with_state(state),
    )
}
