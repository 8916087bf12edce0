//! The scan-execution policies an agent's cluster should run (Starboard module).

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use gl_http::{AgentAuthenticated, ApiError, AppState};
use gl_model::ScanExecutionPolicy;

#[derive(Debug, Serialize)]
pub struct Configuration {
    cadence: String,
    namespaces: Vec<String>,
    updated_at: String,
}

#[derive(Debug, Serialize)]
pub struct PoliciesConfiguration {
    configurations: Vec<Configuration>,
}

fn targeting<'a>(
    policies: &'a [ScanExecutionPolicy],
    agent_name: &'a str,
) -> impl Iterator<Item = &'a ScanExecutionPolicy> {
    policies
        .iter()
        .filter(move |policy| policy.agents.contains_key(agent_name))
}

/// `GET .../policies_configuration`: one entry per enabled policy with a schedule that targets
/// this agent; an empty list when none.
pub async fn policies_configuration(
    agent: AgentAuthenticated,
    State(state): State<AppState>,
) -> Result<Json<PoliciesConfiguration>, ApiError> {
    let policies = state
        .repo
        .kas()
        .scan_execution_policies(agent.agent.project_id)
        .await?;
    let configurations = targeting(&policies, &agent.agent.name)
        .filter(|policy| policy.enabled)
        .filter_map(|policy| {
            Some(Configuration {
                cadence: policy.cadence.clone()?,
                namespaces: policy.agents[&agent.agent.name].namespaces.clone(),
                updated_at: policy.updated_at.clone(),
            })
        })
        .collect();
    Ok(Json(PoliciesConfiguration { configurations }))
}

#[derive(Debug, Serialize)]
pub struct Policy {
    name: String,
    description: String,
    enabled: bool,
    yaml: String,
    updated_at: String,
}

#[derive(Debug, Serialize)]
pub struct Policies {
    policies: Vec<Policy>,
}

/// A YAML scalar written as a JSON string, which YAML reads as the same string.
fn scalar(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialize")
}

/// The policy as its security policy project stores it (`scan_execution_policy` YAML).
fn policy_yaml(policy: &ScanExecutionPolicy) -> String {
    let mut yaml = format!(
        "name: {}\ndescription: {}\nenabled: {}\nrules:\n",
        scalar(&policy.name),
        scalar(&policy.description),
        policy.enabled
    );
    match &policy.cadence {
        Some(cadence) => {
            yaml.push_str(&format!(
                "- type: schedule\n  cadence: {}\n  agents:\n",
                scalar(cadence)
            ));
            for (name, target) in &policy.agents {
                yaml.push_str(&format!("    {}:\n      namespaces:\n", scalar(name)));
                for namespace in &target.namespaces {
                    yaml.push_str(&format!("      - {}\n", scalar(namespace)));
                }
            }
        }
        None => yaml.push_str("- type: pipeline\n  branches:\n  - \"*\"\n"),
    }
    yaml.push_str("actions:\n- scan: container_scanning\n");
    yaml
}

/// `GET .../scan_execution_policies`: the documented (older) form, every policy that targets
/// this agent with its YAML.
pub async fn scan_execution_policies(
    agent: AgentAuthenticated,
    State(state): State<AppState>,
) -> Result<Json<Policies>, ApiError> {
    let policies = state
        .repo
        .kas()
        .scan_execution_policies(agent.agent.project_id)
        .await?;
    let policies = targeting(&policies, &agent.agent.name)
        .map(|policy| Policy {
            name: policy.name.clone(),
            description: policy.description.clone(),
            enabled: policy.enabled,
            yaml: policy_yaml(policy),
            updated_at: policy.updated_at.clone(),
        })
        .collect();
    Ok(Json(Policies { policies }))
}
