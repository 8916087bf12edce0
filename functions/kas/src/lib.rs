//! The kas family: `API::Internal::Kubernetes`, what the GitLab agent server calls. Every
//! endpoint needs the KAS JWT; agent-scoped ones also the agent's token.

use axum::Router;
use axum::routing::{get, post, put};

use gl_http::AppState;

mod agent_configuration;
mod agent_events;
mod agent_info;
mod authorize_proxy_user;
mod project_info;
mod scan_execution_policies;
pub mod starboard_vulnerability;
mod usage_metrics;

pub fn router(state: AppState) -> Router {
    gl_http::request_log::family(
        "kas",
        Router::new()
            .route(
                "/api/v4/internal/kubernetes/agent_info",
                get(agent_info::agent_info),
            )
            .route(
                "/api/v4/internal/agents/agentk/agent_info",
                get(agent_info::agent_info),
            )
            .route(
                "/api/v4/internal/kubernetes/project_info",
                get(project_info::project_info),
            )
            .route(
                "/api/v4/internal/kubernetes/verify_project_access",
                get(project_info::verify_project_access),
            )
            .route(
                "/api/v4/internal/kubernetes/usage_metrics",
                post(usage_metrics::usage_metrics),
            )
            .route(
                "/api/v4/internal/kubernetes/agent_events",
                post(agent_events::agent_events),
            )
            .route(
                "/api/v4/internal/kubernetes/agent_configuration",
                post(agent_configuration::agent_configuration),
            )
            .route(
                "/api/v4/internal/kubernetes/authorize_proxy_user",
                post(authorize_proxy_user::authorize_proxy_user),
            )
            .route(
                "/api/v4/internal/kubernetes/modules/starboard_vulnerability",
                put(starboard_vulnerability::create_vulnerability),
            )
            .route(
                "/api/v4/internal/kubernetes/modules/starboard_vulnerability/",
                put(starboard_vulnerability::create_vulnerability),
            )
            .route(
                "/api/v4/internal/kubernetes/modules/starboard_vulnerability/scan_result",
                post(starboard_vulnerability::scan_result),
            )
            .route(
                "/api/v4/internal/kubernetes/modules/starboard_vulnerability/policies_configuration",
                get(scan_execution_policies::policies_configuration),
            )
            .route(
                "/api/v4/internal/kubernetes/modules/starboard_vulnerability/scan_execution_policies",
                get(scan_execution_policies::scan_execution_policies),
            )
            .with_state(state),
    )
}
