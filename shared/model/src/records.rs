//! The records GitLab's internal API reads and writes, as they are stored. Field names follow
//! GitLab's columns so that a stored item reads like the row it stands for.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::{AccessLevel, Visibility};

pub type UserId = i64;
pub type KeyId = i64;
pub type ProjectId = i64;
pub type NamespaceId = i64;
pub type AgentId = i64;

/// Timestamps as GitLab's API renders them: ISO 8601 in UTC with milliseconds
/// (`2019-06-27T15:29:02.219Z`).
pub fn gitlab_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `User#state`. Only `active` users may use Git; the others exist so that the access check can
/// give GitLab's messages for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserState {
    Active,
    Blocked,
    Deactivated,
    BlockedPendingApproval,
    Banned,
    LdapBlocked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub name: String,
    pub email: String,
    pub admin: bool,
    pub state: UserState,
    pub two_factor_enabled: bool,
    pub namespace_id: Option<NamespaceId>,
    pub created_at: String,
}

/// `Key#usage_type`: signing-only keys are invisible to authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyUsage {
    AuthAndSigning,
    Auth,
    Signing,
}

impl KeyUsage {
    pub fn authenticates(self) -> bool {
        matches!(self, Self::Auth | Self::AuthAndSigning)
    }
}

/// `DeployKeysProject`: a deploy key's rights on one project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployKeyProject {
    pub project_id: ProjectId,
    pub can_push: bool,
}

/// An SSH key, user key or deploy key (GitLab keeps both in `keys`, told apart by `type`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshKey {
    pub id: KeyId,
    /// The owner for a user key, the creator (if known) for a deploy key.
    pub user_id: Option<UserId>,
    /// The owner's display name at the time the key was written, kept with the key so that
    /// `/authorized_keys` answers from one read; rewritten whenever the owner is renamed.
    pub owner_name: Option<String>,
    pub title: String,
    /// The public key line as it was added, comment included.
    pub key: String,
    pub algorithm: String,
    pub blob_base64: String,
    pub fingerprint_sha256: String,
    pub usage_type: KeyUsage,
    pub deploy: bool,
    pub deploy_projects: Vec<DeployKeyProject>,
    pub created_at: String,
    pub expires_at: Option<String>,
}

impl SshKey {
    /// `key_details`' `gl_key_type`: the model's singular name.
    pub fn gl_key_type(&self) -> &'static str {
        if self.deploy { "deploy_key" } else { "key" }
    }
}

/// A group or user namespace membership, or a project membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user_id: UserId,
    pub access_level: AccessLevel,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: NamespaceId,
    pub path: String,
    pub name: String,
    pub parent_id: Option<NamespaceId>,
    pub full_path: String,
    /// This group and its ancestors, nearest first: memberships are inherited down this chain.
    pub ancestor_ids: Vec<NamespaceId>,
    pub visibility: Visibility,
    /// The role SCIM gives the members it provisions (the SAML provider's setting).
    #[serde(default = "guest")]
    pub default_membership_role: AccessLevel,
}

fn guest() -> AccessLevel {
    AccessLevel::Guest
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedBranch {
    /// A branch name or a wildcard pattern (`release/*`).
    pub name: String,
    pub push_access_level: AccessLevel,
    pub merge_access_level: AccessLevel,
    pub allow_force_push: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedTag {
    pub name: String,
    pub create_access_level: AccessLevel,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub id: ProjectId,
    pub namespace_id: NamespaceId,
    pub path: String,
    pub name: String,
    pub full_path: String,
    /// The namespace chain the project sits in, nearest first (its group, then the parents).
    pub namespace_ancestor_ids: Vec<NamespaceId>,
    pub visibility: Visibility,
    pub archived: bool,
    pub lfs_enabled: bool,
    pub default_branch: Option<String>,
    pub protected_branches: Vec<ProtectedBranch>,
    pub protected_tags: Vec<ProtectedTag>,
    /// `ErrorTracking::ProjectErrorTrackingSetting#enabled` with the integrated backend.
    #[serde(default)]
    pub error_tracking_enabled: bool,
    pub created_at: String,
}

/// `ErrorTracking::ClientKey`: a DSN public key of a project's error tracking. Public by
/// design (it sits in every client's DSN), so it is stored as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorTrackingClientKey {
    pub public_key: String,
    #[serde(default = "active_by_default")]
    pub active: bool,
}

fn active_by_default() -> bool {
    true
}

/// `Gitlab::GlRepository` types served for projects: the code repository and its wiki.
/// Snippet, design and group-wiki repositories are not modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoType {
    Project,
    Wiki,
}

impl RepoType {
    /// `<type>-<project id>`, the identifier Gitaly and GitLab Shell pass around.
    pub fn gl_repository(self, project_id: ProjectId) -> String {
        match self {
            Self::Project => format!("project-{project_id}"),
            Self::Wiki => format!("wiki-{project_id}"),
        }
    }

    /// Parses `project-<id>` and `wiki-<id>`; the id must be all digits.
    pub fn parse_gl_repository(gl_repository: &str) -> Option<(Self, ProjectId)> {
        let (repo_type, id) = if let Some(id) = gl_repository.strip_prefix("project-") {
            (Self::Project, id)
        } else {
            (Self::Wiki, gl_repository.strip_prefix("wiki-")?)
        };
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some((repo_type, id.parse().ok()?))
    }

    pub fn path_suffix(self) -> &'static str {
        match self {
            Self::Project => "",
            Self::Wiki => ".wiki",
        }
    }
}

impl Project {
    /// The disk path of the project's repository of this type: the wiki sits beside the
    /// code as `<h>.wiki.git`.
    pub fn repository_relative_path(&self, repo_type: RepoType) -> String {
        use sha2::{Digest, Sha256};
        let hash = hex::encode(Sha256::digest(self.id.to_string().as_bytes()));
        format!(
            "@hashed/{}/{}/{hash}{}.git",
            &hash[0..2],
            &hash[2..4],
            repo_type.path_suffix()
        )
    }

    /// The repository as GitLab hands it to Gitaly's clients (`Gitlab::GitalyClient::Util
    /// .repository`): storage, disk path, `gl_repository`, `gl_project_path`, and no
    /// quarantine directories (only a push's hooks have those).
    pub fn gitaly_repository(&self, storage_name: &str, repo_type: RepoType) -> GitalyRepository {
        GitalyRepository {
            storage_name: storage_name.to_owned(),
            relative_path: self.repository_relative_path(repo_type),
            git_object_directory: String::new(),
            git_alternate_object_directories: Vec::new(),
            gl_repository: repo_type.gl_repository(self.id),
            gl_project_path: self.repository_full_path(repo_type),
        }
    }

    /// `gl_project_path` of the repository: the project's full path, plus `.wiki` for its wiki.
    pub fn repository_full_path(&self, repo_type: RepoType) -> String {
        format!("{}{}", self.full_path, repo_type.path_suffix())
    }

    pub fn root_namespace_id(&self) -> NamespaceId {
        self.namespace_ancestor_ids
            .last()
            .copied()
            .unwrap_or(self.namespace_id)
    }
}

/// Where a scan-execution policy's schedule runs in one agent's cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyAgentTarget {
    #[serde(default)]
    pub namespaces: Vec<String>,
}

/// A scan-execution policy of a project's security policy project, reduced to what KAS asks:
/// its schedule (`cadence`) and the agents (by name) and namespaces it targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanExecutionPolicy {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub enabled: bool,
    /// Cron of the `schedule` rule; `None` for pipeline-triggered policies.
    pub cadence: Option<String>,
    #[serde(default)]
    pub agents: std::collections::BTreeMap<String, PolicyAgentTarget>,
    pub updated_at: String,
}

/// A cluster agent; its token is kept only as a SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub id: AgentId,
    pub name: String,
    pub project_id: ProjectId,
    pub token_digest: String,
    #[serde(default)]
    pub revoked: bool,
    pub created_at: String,
    /// The root namespace of the agent's project: `user_access` grants only reach projects
    /// and groups under it (`UserAccess::RefreshService`).
    #[serde(default)]
    pub root_namespace_id: Option<NamespaceId>,
}

/// An agent's `user_access` configuration as GitLab keeps it after KAS reports it: the
/// `access_as` part (`UserAccess::RefreshService#user_access_as`), and the projects and groups
/// it names that exist under the agent's root namespace, each with its namespace chain so that
/// a user's role on them is one read away.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserAccessGrants {
    /// `{"access_as": ...}` when configured, `{}` when not: GitLab stores this slice.
    #[serde(with = "crate::json_text")]
    pub config: serde_json::Map<String, serde_json::Value>,
    pub projects: Vec<GrantTarget>,
    pub groups: Vec<GrantTarget>,
}

impl UserAccessGrants {
    /// GitLab's `agent.user_access_config`: present only while some grant row exists.
    pub fn user_access_config(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        if self.projects.is_empty() && self.groups.is_empty() {
            None
        } else {
            Some(&self.config)
        }
    }
}

/// A project or group named by a `user_access` grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantTarget {
    pub id: i64,
    /// For a project its namespace and that namespace's ancestors; for a group the group and
    /// its ancestors. Nearest first, the root last.
    pub namespace_ancestor_ids: Vec<NamespaceId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalAccessToken {
    pub id: i64,
    pub user_id: UserId,
    pub name: String,
    pub token_digest: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<String>,
    pub revoked: bool,
    pub created_at: String,
}

impl PersonalAccessToken {
    /// `PersonalAccessToken#expired?`: a token dies at the start of its `expires_at` day (UTC).
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        let today = now.date_naive().to_string();
        self.expires_at
            .as_deref()
            .is_some_and(|date| date <= today.as_str())
    }
}

/// Where a SCIM token is valid: one top-level group, or the whole instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScimScope {
    Group { group_id: NamespaceId },
    Instance,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimToken {
    pub scope: ScimScope,
    pub token_digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitalySettings {
    pub address: String,
    pub token: crate::SecretText,
    pub storage: String,
}

/// Instance settings the internal API echoes back to its clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub gitlab_url: String,
    pub gitaly: GitalySettings,
    /// Whether this instance is GitLab.com (GitLab's `should_check_namespace_plan?`): the
    /// GitLab.com-only endpoints (storage limit exclusions, upcoming reconciliations) answer
    /// 403 when it is off. This service exists to serve GitLab.com's clients, so it defaults
    /// to on, also for settings stored before the field existed.
    #[serde(default = "gitlab_com_by_default")]
    pub gitlab_com: bool,
}

fn gitlab_com_by_default() -> bool {
    true
}

impl Settings {
    /// `Gitlab.config.gitlab.host`: the host of the external URL, without scheme or port.
    pub fn gitlab_host(&self) -> &str {
        let rest = self
            .gitlab_url
            .split_once("://")
            .map_or(self.gitlab_url.as_str(), |(_, rest)| rest);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if let Some(bracketed) = host_port.strip_prefix('[') {
            return bracketed.split(']').next().unwrap_or(bracketed);
        }
        host_port.split(':').next().unwrap_or(host_port)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            gitlab_url: "http://localhost:3000".to_owned(),
            gitaly: GitalySettings {
                address: "unix:/var/opt/gitlab/gitaly/gitaly.socket".to_owned(),
                token: crate::SecretText::default(),
                storage: "default".to_owned(),
            },
            gitlab_com: true,
        }
    }
}

/// A namespace as the admin endpoints find it (`find_namespace!`): a group or a user's
/// personal namespace, never a project's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    pub id: NamespaceId,
    /// The namespace's own `name`: a group's name, or for a personal namespace its user's
    /// name (GitLab keeps the two in step).
    pub name: String,
    pub full_path: String,
    /// `Namespace#root?`: no parent.
    pub root: bool,
    /// `Namespace#group_namespace?`: a group, not a user's personal namespace.
    pub group: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        let at = DateTime::parse_from_rfc3339("2019-06-27T15:29:02.219456Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(gitlab_timestamp(at), "2019-06-27T15:29:02.219Z");
    }

    #[test]
    fn hashed_path_matches_gitlab_docs_example() {
        // The internal API document's example: project 3.
        let project = Project {
            id: 3,
            namespace_id: 1,
            path: "wget2".into(),
            name: "wget2".into(),
            full_path: "gnuwget/wget2".into(),
            namespace_ancestor_ids: vec![1],
            visibility: crate::Visibility::Public,
            archived: false,
            lfs_enabled: true,
            default_branch: None,
            protected_branches: Vec::new(),
            protected_tags: Vec::new(),
            error_tracking_enabled: false,
            created_at: String::new(),
        };
        assert_eq!(
            project.repository_relative_path(RepoType::Project),
            "@hashed/4e/07/4e07408562bedb8b60ce05c1decfe3ad16b72230967de01f640b7e4729b49fce.git"
        );
        assert_eq!(
            project.repository_relative_path(RepoType::Wiki),
            "@hashed/4e/07/4e07408562bedb8b60ce05c1decfe3ad16b72230967de01f640b7e4729b49fce.wiki.git"
        );
    }

    #[test]
    fn gl_repository_names_the_type_and_an_all_digit_id() {
        assert_eq!(
            RepoType::parse_gl_repository("project-26"),
            Some((RepoType::Project, 26))
        );
        assert_eq!(
            RepoType::parse_gl_repository("wiki-26"),
            Some((RepoType::Wiki, 26))
        );
        for malformed in [
            "project-",
            "project-2x",
            "wiki--1",
            "snippet-1",
            "group-1-wiki",
            "26",
        ] {
            assert_eq!(
                RepoType::parse_gl_repository(malformed),
                None,
                "{malformed}"
            );
        }
        assert_eq!(RepoType::Wiki.gl_repository(26), "wiki-26");
    }

    #[test]
    fn gitlab_host_drops_scheme_port_and_path() {
        let mut settings = Settings::default();
        for (url, host) in [
            ("http://localhost:3000", "localhost"),
            ("https://gitlab.example.com/gitlab", "gitlab.example.com"),
            ("https://user@[::1]:8443/", "::1"),
            ("gitlab.internal", "gitlab.internal"),
        ] {
            settings.gitlab_url = url.to_owned();
            assert_eq!(settings.gitlab_host(), host);
        }
    }
}

/// A Starboard vulnerability finding reported through KAS, under its agent. The UUID (derived
/// from what identifies the finding) is the idempotency key; the report's own documents are
/// kept as sent, as JSON text ([`crate::json_text`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StarboardFinding {
    pub uuid: String,
    pub report_type: String,
    pub agent_id: AgentId,
    pub project_id: ProjectId,
    #[serde(with = "crate::json_text")]
    pub name: serde_json::Value,
    pub severity: Option<String>,
    pub confidence: String,
    #[serde(with = "crate::json_text")]
    pub vulnerability: serde_json::Value,
    #[serde(with = "crate::json_text")]
    pub scanner: serde_json::Value,
    pub updated_at: String,
    /// When the finding was last reported (microseconds since the epoch): against the agent's
    /// last scan, this says whether it is still detected. Findings stored before it was kept
    /// count as reported before any scan.
    #[serde(default = "before_any_scan")]
    pub reported_at_us: i64,
}

/// An agent's last Starboard `scan_result`: when it was recorded (microseconds since the
/// epoch) and the finding UUIDs (hyphenated, lower-case) it still saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StarboardScan {
    pub scanned_at_us: i64,
    pub kept_uuids: std::collections::HashSet<String>,
}

/// What KAS reported an agent's configuration file to hold, with the `user_access` grants
/// GitLab derived from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentConfiguration {
    pub agent_id: AgentId,
    #[serde(with = "crate::json_text")]
    pub agent_config: serde_json::Value,
    #[serde(default)]
    pub user_access: UserAccessGrants,
    pub updated_at: String,
}

/// One day's KAS usage totals: counters, and unique counters as estimated distinct counts
/// (see [`crate::unique_count`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageCounts {
    pub counts: std::collections::BTreeMap<String, i64>,
    pub uniques: std::collections::BTreeMap<String, u64>,
}

/// Gitaly's `Repository` message as GitLab's JSON answers carry it (`/allowed`'s `gitaly`,
/// KAS's `gitaly_repository`), field for field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitalyRepository {
    pub storage_name: String,
    pub relative_path: String,
    /// A push's quarantine, relative to the repository (Gitaly's `env`).
    pub git_object_directory: String,
    pub git_alternate_object_directories: Vec<String>,
    pub gl_repository: String,
    pub gl_project_path: String,
}

fn before_any_scan() -> i64 {
    i64::MIN
}
