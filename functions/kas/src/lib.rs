//! The kas family: `API::Internal::Kubernetes`, what the GitLab agent server calls. Every
//! endpoint needs the KAS JWT; agent-scoped ones also the agent's token.

use axum::Router;
use axum::routing::{get, post, put};

use gl_http::AppState;

mod configuration;
mod info;
mod metrics;
mod policies;
mod proxy;
pub mod starboard;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/v4/internal/kubernetes/agent_info",
            get(info::agent_info),
        )
        .route(
            "/api/v4/internal/agents/agentk/agent_info",
            get(info::agent_info),
        )
        .route(
            "/api/v4/internal/kubernetes/project_info",
            get(info::project_info),
        )
        .route(
            "/api/v4/internal/kubernetes/verify_project_access",
            get(info::verify_project_access),
        )
        .route(
            "/api/v4/internal/kubernetes/usage_metrics",
            post(metrics::usage_metrics),
        )
        .route(
            "/api/v4/internal/kubernetes/agent_events",
            post(metrics::agent_events),
        )
        .route(
            "/api/v4/internal/kubernetes/agent_configuration",
            post(configuration::agent_configuration),
        )
        .route(
            "/api/v4/internal/kubernetes/authorize_proxy_user",
            post(proxy::authorize_proxy_user),
        )
        .route(
            "/api/v4/internal/kubernetes/modules/starboard_vulnerability",
            put(starboard::create_vulnerability),
        )
        .route(
            "/api/v4/internal/kubernetes/modules/starboard_vulnerability/",
            put(starboard::create_vulnerability),
        )
        .route(
            "/api/v4/internal/kubernetes/modules/starboard_vulnerability/scan_result",
            post(starboard::scan_result),
        )
        .route(
            "/api/v4/internal/kubernetes/modules/starboard_vulnerability/policies_configuration",
            get(policies::policies_configuration),
        )
        .route(
            "/api/v4/internal/kubernetes/modules/starboard_vulnerability/scan_execution_policies",
            get(policies::scan_execution_policies),
        )
        .with_state(state)
}
