//! The Starboard module: agentk's cluster image scanning reports vulnerabilities through KAS.
//! A report is idempotent: its finding's UUID is derived from what identifies it, so the same
//! report twice is one finding with one UUID.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use gl_http::grape::{Any, Array, Hash, JsonString, Present, Reason, Text, Type};
use gl_http::{AgentAuthenticated, ApiError, AppState, Declared, Params};
use gl_model::{StarboardFinding, StarboardScan};

/// `Gitlab::UUID`'s production namespace for vulnerability finding UUIDs.
pub const FINDING_UUID_NAMESPACE: uuid::Uuid = uuid::uuid!("58dc0f06-936c-43b3-93bb-71693f1b6570");
/// The report type Starboard findings have (`cluster_image_scanning`).
pub const REPORT_TYPE: &str = "cluster_image_scanning";

const SEVERITIES: [&str; 7] = [
    "undefined",
    "info",
    "unknown",
    "low",
    "medium",
    "high",
    "critical",
];
const CONFIDENCES: [&str; 8] = [
    "undefined",
    "ignore",
    "unknown",
    "experimental",
    "low",
    "medium",
    "high",
    "confirmed",
];

fn sha1_hex(text: &str) -> String {
    hex::encode(Sha1::digest(text.as_bytes()))
}

/// `Gitlab::Ci::Reports::Security::Identifier#fingerprint`: SHA-1 of
/// `<external_type>:<external_id>`, the type guessed from the name (CVE, CWE, other).
fn identifier_fingerprint(identifier: &Value) -> String {
    let name = identifier["name"].as_str().unwrap_or_default();
    let external_type = identifier["external_type"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let upper = name.to_uppercase();
            if upper.contains("CVE") {
                "cve".to_owned()
            } else if upper.contains("CWE") {
                "cwe".to_owned()
            } else {
                "other".to_owned()
            }
        });
    let external_id = identifier["external_id"].as_str().unwrap_or(name);
    sha1_hex(&format!("{external_type}:{external_id}"))
}

/// `Gitlab::Ci::Reports::Security::Locations::ClusterImageScanning#fingerprint_data`. GitLab's
/// service reads `kubernetes_resource.container`, which the API never passes (it takes
/// `container_name`), so that segment is empty there; kept so UUIDs agree with GitLab's.
fn location_fingerprint(agent_id: i64, location: &Value) -> String {
    let resource = &location["kubernetes_resource"];
    let field = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let parts = [
        agent_id.to_string(),
        field(&resource["namespace"]),
        field(&resource["kind"]),
        field(&resource["name"]),
        field(&resource["container"]),
        field(&location["dependency"]["package"]["name"]),
    ];
    sha1_hex(&parts.join(":"))
}

/// The finding UUID: UUIDv5 of `<report type>-<identifier fp>-<location fp>-<project id>`.
pub fn finding_uuid(agent_id: i64, project_id: i64, vulnerability: &Value) -> String {
    let name = format!(
        "{REPORT_TYPE}-{}-{}-{project_id}",
        identifier_fingerprint(&vulnerability["identifiers"][0]),
        location_fingerprint(agent_id, &vulnerability["location"])
    );
    uuid::Uuid::new_v5(&FINDING_UUID_NAMESPACE, name.as_bytes()).to_string()
}

/// Starboard's rule for `vulnerability[identifiers]`: a non-empty array, anything else (when
/// given) being invalid.
#[derive(Debug, Clone, Copy)]
struct Identifiers;

impl Type for Identifiers {
    type Output = ();

    fn coerce(&self, value: &Value) -> Result<(), Reason> {
        match value.as_array() {
            Some(list) if !list.is_empty() => Ok(()),
            _ => Err(Reason::Invalid),
        }
    }
}

fn lowercase(text: String) -> String {
    text.to_lowercase()
}

/// The declared parameters, in two rounds. First presence, in declaration order: every
/// required member (untyped, an empty string counting as missing) named by its bracketed path,
/// then whether `identifiers` is a non-empty array; then, only when all of that passed,
/// `severity` and `confidence` among their values (compared in lower case).
fn validate(params: &Params) -> Result<(Value, Value), ApiError> {
    let required = Present(Any);
    let mut declared = Declared::new(params);
    let vulnerability = declared.requires_hash("vulnerability", required, |vulnerability| {
        vulnerability.requires("name", required);
        vulnerability.requires("severity", required);
        vulnerability.requires_hash("location", required, |location| {
            location.requires("image", required);
            location.requires_hash("dependency", required, |dependency| {
                dependency.requires_hash("package", required, |package| {
                    package.requires("name", required);
                });
            });
            location.requires_hash("kubernetes_resource", required, |resource| {
                for field in ["namespace", "name", "kind", "container_name", "agent_id"] {
                    resource.requires(field, required);
                }
            });
        });
        vulnerability.requires_array("identifiers", required, |identifier| {
            identifier.requires("type", required);
            identifier.requires("name", required);
        });
        vulnerability.value().clone()
    });
    let scanner = declared.requires_hash("scanner", required, |scanner| {
        scanner.requires("id", required);
        scanner.requires("name", required);
        scanner.requires_hash("vendor", required, |vendor| {
            vendor.requires("name", required);
        });
        scanner.value().clone()
    });
    declared.optional_hash("vulnerability", required, |vulnerability| {
        vulnerability.optional("identifiers", Present(Identifiers));
    });
    let (vulnerability, scanner) = declared.finish((vulnerability, scanner))?;

    let mut declared = Declared::new(params);
    declared.requires_hash("vulnerability", Hash, |vulnerability| {
        let severity = Text.coerce_with(lowercase).values(&SEVERITIES);
        vulnerability.requires("severity", severity);
        let confidence = Text.coerce_with(lowercase).values(&CONFIDENCES);
        vulnerability.optional("confidence", confidence);
    });
    declared.finish(())?;
    Ok((vulnerability, scanner))
}

/// A finding's state as GitLab's `scan_result` batch update leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingState {
    Detected,
    Resolved,
}

/// Resolution is not written onto each finding (that would cost `scan_result` a third round
/// trip): a finding reported before the agent's last scan and absent from it is resolved, and
/// one reported again afterwards is detected again.
pub fn finding_state(
    finding: &StarboardFinding,
    last_scan: Option<&StarboardScan>,
) -> FindingState {
    match last_scan {
        Some(scan)
            if finding.reported_at_us < scan.scanned_at_us
                && !scan.kept_uuids.contains(&finding.uuid) =>
        {
            FindingState::Resolved
        }
        _ => FindingState::Detected,
    }
}

#[derive(Debug, Serialize)]
pub struct Created {
    uuid: String,
}

/// `PUT /internal/kubernetes/modules/starboard_vulnerability`: creates the finding, or finds
/// it again (a resolved one is detected again, as newer GitLab reverts it). 200 either way.
pub async fn create_vulnerability(
    agent: AgentAuthenticated,
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<Created>, ApiError> {
    let (vulnerability, scanner) = validate(&params)?;
    let agent = agent.agent;
    let uuid = finding_uuid(agent.id, agent.project_id, &vulnerability);
    let lower = |name: &str| vulnerability[name].as_str().map(str::to_lowercase);
    let now = chrono::Utc::now();
    let finding = StarboardFinding {
        uuid: uuid.clone(),
        report_type: REPORT_TYPE.to_owned(),
        agent_id: agent.id,
        project_id: agent.project_id,
        name: vulnerability["name"].clone(),
        severity: lower("severity"),
        confidence: lower("confidence").unwrap_or_else(|| "unknown".to_owned()),
        vulnerability,
        scanner,
        updated_at: gl_model::gitlab_timestamp(now),
        reported_at_us: now.timestamp_micros(),
    };
    state.repo.kas().put_starboard_finding(&finding).await?;
    Ok(Json(Created { uuid }))
}

/// `POST .../starboard_vulnerability/scan_result`: every active finding of this agent not in
/// `uuids` is resolved (recorded as the agent's last scan; see `record_starboard_scan`), in
/// two round trips. Answers 200 with the status as its body, as Grape renders `status 200`.
pub async fn scan_result(
    agent: AgentAuthenticated,
    State(state): State<AppState>,
    params: Params,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut declared = Declared::new(&params);
    let uuids = declared.requires("uuids", Array(JsonString));
    let uuids = declared.finish(uuids)?;
    // Finding UUIDs are compared as UUIDs (GitLab's column is `uuid`): case does not matter,
    // and a string that is no UUID names no finding, so it is not kept (which also bounds
    // the size of what is stored per UUID).
    let uuids: Vec<String> = uuids
        .iter()
        .filter_map(|text| uuid::Uuid::parse_str(text).ok())
        .map(|uuid| uuid.hyphenated().to_string())
        .collect();
    let scanned_at_us = chrono::Utc::now().timestamp_micros();
    state
        .repo
        .kas()
        .record_starboard_scan(agent.agent.id, &uuids, scanned_at_us)
        .await?;
    Ok((StatusCode::OK, Json(json!(200))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_is_stable_and_depends_on_what_identifies_the_finding() {
        let vulnerability = json!({
            "identifiers": [{"type": "cve", "name": "CVE-2021-44228"}],
            "location": {"kubernetes_resource": {"namespace": "prod", "kind": "Deployment", "name": "web", "container_name": "app"},
                         "dependency": {"package": {"name": "log4j"}}}
        });
        let first = finding_uuid(7, 26, &vulnerability);
        assert_eq!(first, finding_uuid(7, 26, &vulnerability));
        assert_eq!(uuid::Uuid::parse_str(&first).unwrap().get_version_num(), 5);
        assert_ne!(first, finding_uuid(8, 26, &vulnerability));
        assert_ne!(first, finding_uuid(7, 27, &vulnerability));
        let mut other = vulnerability.clone();
        other["identifiers"][0]["name"] = json!("CVE-2022-0001");
        assert_ne!(first, finding_uuid(7, 26, &other));
    }

    #[test]
    fn identifier_types_are_guessed_from_names() {
        assert_eq!(
            identifier_fingerprint(&json!({"name": "CVE-1"})),
            sha1_hex("cve:CVE-1")
        );
        assert_eq!(
            identifier_fingerprint(&json!({"name": "cwe-79"})),
            sha1_hex("cwe:cwe-79")
        );
        assert_eq!(
            identifier_fingerprint(&json!({"name": "GHSA-x"})),
            sha1_hex("other:GHSA-x")
        );
    }
}
