//! CustomersDot's calls that apply what a customer bought
//! (`ee/lib/api/gitlab_subscriptions/subscriptions.rb`): a namespace's GitLab subscription.
//! CustomersDot's JWT or an admin personal access token ([`gl_http::billing`]).

use axum::Router;
use axum::routing::get;

use gl_http::AppState;

mod gitlab_subscription;
mod plans;
mod seats;

pub fn router(state: AppState) -> Router {
    use gitlab_subscription::{create, show, update};
    Router::new()
        .route(
            "/api/v4/namespaces/{id}/gitlab_subscription",
            get(show).post(create).put(update),
        )
        // GitLab mounts the same handlers under the internal API too.
        .route(
            "/api/v4/internal/gitlab_subscriptions/namespaces/{id}/gitlab_subscription",
            get(show).post(create).put(update),
        )
        .with_state(state)
}
