//! CustomersDot's calls that apply what a customer bought: a namespace's GitLab subscription
//! (`ee/lib/api/gitlab_subscriptions/subscriptions.rb`), add-on purchases
//! (`add_on_purchases.rb`), compute minute packs (`ee/lib/api/ci/minutes.rb`) and upcoming
//! reconciliations (`ee/lib/api/internal/upcoming_reconciliations.rb`). CustomersDot's JWT
//! or an admin personal access token ([`gl_http::billing`]).

use axum::Router;
use axum::routing::{get, patch, post, put};

use gl_http::AppState;

mod add_on_purchase;
mod gitlab_subscription;
mod minutes;
mod plans;
mod seats;
mod upcoming_reconciliations;

/// GitLab mounts the namespace handlers twice: under `/api/v4/namespaces` and under the
/// internal API's `/api/v4/internal/gitlab_subscriptions/namespaces`. Routes are spelled out
/// whole, as the template's checks read them.
pub fn router(state: AppState) -> Router {
    gl_http::request_log::family(
        "billing",
        Router::new()
            .route(
                "/api/v4/namespaces/{id}/gitlab_subscription",
                get(gitlab_subscription::show)
                    .post(gitlab_subscription::create)
                    .put(gitlab_subscription::update),
            )
            .route(
                "/api/v4/internal/gitlab_subscriptions/namespaces/{id}/gitlab_subscription",
                get(gitlab_subscription::show)
                    .post(gitlab_subscription::create)
                    .put(gitlab_subscription::update),
            )
            .route(
                "/api/v4/namespaces/{id}/subscription_add_on_purchase/{add_on_name}",
                get(add_on_purchase::show)
                    .post(add_on_purchase::create)
                    .put(add_on_purchase::update),
            )
            .route(
                "/api/v4/internal/gitlab_subscriptions/namespaces/{id}/subscription_add_on_purchase/{add_on_name}",
                get(add_on_purchase::show)
                    .post(add_on_purchase::create)
                    .put(add_on_purchase::update),
            )
            .route(
                "/api/v4/namespaces/{id}/minutes",
                post(minutes::create),
            )
            .route(
                "/api/v4/internal/gitlab_subscriptions/namespaces/{id}/minutes",
                post(minutes::create),
            )
            .route(
                "/api/v4/namespaces/{id}/minutes/move/{target_id}",
                patch(minutes::move_packs),
            )
            .route(
                "/api/v4/internal/gitlab_subscriptions/namespaces/{id}/minutes/move/{target_id}",
                patch(minutes::move_packs),
            )
            .route(
                "/api/v4/internal/upcoming_reconciliations",
                put(upcoming_reconciliations::update).delete(upcoming_reconciliations::destroy),
            )
            .with_state(state),
    )
}
