//! The seed file: a JSON description of a small GitLab world (users, keys, groups, projects,
//! agents, tokens, settings) that the local server and operators import into the store.
//!
//! Parsing validates everything before anything is written, and every error names the record
//! and the field, so a bad file imports nothing and says why.

use serde::{Deserialize, Serialize};

use crate::records::*;
use crate::{AccessLevel, Visibility};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFile {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<SeedUser>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<SeedKey>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<SeedGroup>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub projects: Vec<SeedProject>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<SeedAgent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub personal_access_tokens: Vec<SeedPersonalAccessToken>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scim_tokens: Vec<SeedScimToken>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<SeedSettings>,
}

fn default_state() -> UserState {
    UserState::Active
}

fn default_private() -> Visibility {
    Visibility::Private
}

fn default_true() -> bool {
    true
}

fn is_false(value: &bool) -> bool {
    !value
}

fn default_usage() -> KeyUsage {
    KeyUsage::AuthAndSigning
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    pub id: UserId,
    pub username: String,
    pub name: String,
    pub email: String,
    #[serde(default)]
    pub admin: bool,
    #[serde(default = "default_state")]
    pub state: UserState,
    #[serde(default)]
    pub two_factor_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_id: Option<NamespaceId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedKey {
    pub id: KeyId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    pub title: String,
    pub key: String,
    #[serde(default)]
    pub deploy: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub projects: Vec<DeployKeyProject>,
    #[serde(default = "default_usage")]
    pub usage_type: KeyUsage,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedGroup {
    pub id: NamespaceId,
    pub path: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<NamespaceId>,
    #[serde(default = "default_private")]
    pub visibility: Visibility,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
    /// The role SCIM gives the members it provisions (the SAML provider's
    /// `default_membership_role`): Guest unless the seed says otherwise.
    #[serde(default = "default_membership_role")]
    pub default_membership_role: AccessLevel,
}

fn default_membership_role() -> AccessLevel {
    AccessLevel::Guest
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedProject {
    pub id: ProjectId,
    pub namespace_id: NamespaceId,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default = "default_private")]
    pub visibility: Visibility,
    #[serde(default)]
    pub archived: bool,
    #[serde(default = "default_true")]
    pub lfs_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_branch: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected_branches: Vec<ProtectedBranch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected_tags: Vec<ProtectedTag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_tracking: Option<SeedErrorTracking>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scan_execution_policies: Vec<SeedScanExecutionPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedScanExecutionPolicy {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cadence: Option<String>,
    #[serde(default)]
    pub agents: std::collections::BTreeMap<String, PolicyAgentTarget>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// A project's integrated error tracking: on or off, and its DSN client keys.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedErrorTracking {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_keys: Vec<ErrorTrackingClientKey>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedAgent {
    pub id: AgentId,
    pub name: String,
    pub project_id: ProjectId,
    /// The token in plain, digested before it is stored; never written by an export.
    #[serde(default, skip_serializing)]
    pub token: Option<crate::SecretText>,
    /// Instead of `token`: the SHA-256 hex digest the store keeps, as an export writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_digest: Option<String>,
    #[serde(default)]
    pub revoked: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedPersonalAccessToken {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub user_id: UserId,
    pub name: String,
    /// The token in plain, digested before it is stored; never written by an export.
    #[serde(default, skip_serializing)]
    pub token: Option<crate::SecretText>,
    /// Instead of `token`: the SHA-256 hex digest the store keeps, as an export writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_digest: Option<String>,
    pub scopes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub revoked: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedScimToken {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_path: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub instance: bool,
    /// The token in plain, digested before it is stored; never written by an export.
    #[serde(default, skip_serializing)]
    pub token: Option<crate::SecretText>,
    /// Instead of `token`: the SHA-256 hex digest the store keeps, as an export writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_digest: Option<String>,
}

/// The instance settings as a file gives them. Gitaly's token may be left out (an export
/// never writes it): the token the store holds then stays.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedSettings {
    pub gitlab_url: String,
    pub gitaly: SeedGitaly,
    #[serde(default = "default_true")]
    pub gitlab_com: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedGitaly {
    pub address: String,
    #[serde(default, skip_serializing)]
    pub token: Option<crate::SecretText>,
    pub storage: String,
}

/// A validated seed, turned into the records the store keeps (tokens already digested).
#[derive(Debug, Default, PartialEq)]
pub struct SeedWorld {
    pub users: Vec<User>,
    pub keys: Vec<SshKey>,
    pub groups: Vec<Group>,
    pub group_members: Vec<(NamespaceId, Member)>,
    pub projects: Vec<Project>,
    pub project_members: Vec<(ProjectId, Member)>,
    pub error_tracking_keys: Vec<(ProjectId, ErrorTrackingClientKey)>,
    pub scan_execution_policies: Vec<(ProjectId, Vec<ScanExecutionPolicy>)>,
    pub agents: Vec<Agent>,
    pub personal_access_tokens: Vec<PersonalAccessToken>,
    pub scim_tokens: Vec<ScimToken>,
    pub settings: Option<Settings>,
    /// The file left Gitaly's token out: the stored one stays (see [`SeedWorld::settings_over`]).
    pub keeps_gitaly_token: bool,
}

impl SeedWorld {
    /// The settings to store, given those stored: a file without Gitaly's token keeps the
    /// stored one (none on a fresh store).
    pub fn settings_over(&self, stored: Option<&Settings>) -> Option<Settings> {
        let mut settings = self.settings.clone()?;
        if self.keeps_gitaly_token {
            settings.gitaly.token = stored.map(|s| s.gitaly.token.clone()).unwrap_or_default();
        }
        Some(settings)
    }
}

/// What is wrong with a seed file, naming the record (`keys[1] (id 2)`) and the field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{record}: {field}: {message}")]
pub struct SeedError {
    pub record: String,
    pub field: String,
    pub message: String,
}

/// Parses and validates in one step.
pub fn parse(
    bytes: &[u8],
    now: &str,
    digest: &dyn Fn(&str) -> String,
) -> Result<SeedWorld, SeedError> {
    SeedFile::from_json(bytes)?.into_world(now, digest)
}

mod export;
mod validate;

pub use validate::valid_path;

#[cfg(test)]
mod tests;
