//! The seed file: a JSON description of a small GitLab world (users, keys, groups, projects,
//! agents, tokens, settings) that the local server and operators import into the store.
//!
//! Parsing validates everything before anything is written, and every error names the record
//! and the field, so a bad file imports nothing and says why.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use serde::Deserialize;

use crate::fingerprint::OpensshKey;
use crate::records::*;
use crate::{AccessLevel, Visibility};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFile {
    #[serde(default)]
    pub users: Vec<SeedUser>,
    #[serde(default)]
    pub keys: Vec<SeedKey>,
    #[serde(default)]
    pub groups: Vec<SeedGroup>,
    #[serde(default)]
    pub projects: Vec<SeedProject>,
    #[serde(default)]
    pub agents: Vec<SeedAgent>,
    #[serde(default)]
    pub personal_access_tokens: Vec<SeedPersonalAccessToken>,
    #[serde(default)]
    pub scim_tokens: Vec<SeedScimToken>,
    pub settings: Option<Settings>,
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

fn default_usage() -> KeyUsage {
    KeyUsage::AuthAndSigning
}

#[derive(Debug, Deserialize)]
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
    pub namespace_id: Option<NamespaceId>,
    pub created_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedKey {
    pub id: KeyId,
    pub user_id: Option<UserId>,
    pub title: String,
    pub key: String,
    #[serde(default)]
    pub deploy: bool,
    #[serde(default)]
    pub projects: Vec<DeployKeyProject>,
    #[serde(default = "default_usage")]
    pub usage_type: KeyUsage,
    pub created_at: Option<String>,
    pub expires_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedGroup {
    pub id: NamespaceId,
    pub path: String,
    pub name: String,
    pub parent_id: Option<NamespaceId>,
    #[serde(default = "default_private")]
    pub visibility: Visibility,
    #[serde(default)]
    pub members: Vec<Member>,
    /// The role SCIM gives the members it provisions (the SAML provider's
    /// `default_membership_role`): Guest unless the seed says otherwise.
    #[serde(default = "default_membership_role")]
    pub default_membership_role: AccessLevel,
}

fn default_membership_role() -> AccessLevel {
    AccessLevel::Guest
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedProject {
    pub id: ProjectId,
    pub namespace_id: NamespaceId,
    pub path: String,
    pub name: Option<String>,
    #[serde(default = "default_private")]
    pub visibility: Visibility,
    #[serde(default)]
    pub archived: bool,
    #[serde(default = "default_true")]
    pub lfs_enabled: bool,
    pub default_branch: Option<String>,
    #[serde(default)]
    pub members: Vec<Member>,
    #[serde(default)]
    pub protected_branches: Vec<ProtectedBranch>,
    #[serde(default)]
    pub protected_tags: Vec<ProtectedTag>,
    pub error_tracking: Option<SeedErrorTracking>,
    #[serde(default)]
    pub scan_execution_policies: Vec<SeedScanExecutionPolicy>,
    pub created_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedScanExecutionPolicy {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    pub cadence: Option<String>,
    #[serde(default)]
    pub agents: std::collections::BTreeMap<String, PolicyAgentTarget>,
    pub updated_at: Option<String>,
}

/// A project's integrated error tracking: on or off, and its DSN client keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedErrorTracking {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub client_keys: Vec<ErrorTrackingClientKey>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedAgent {
    pub id: AgentId,
    pub name: String,
    pub project_id: ProjectId,
    pub token: crate::SecretText,
    #[serde(default)]
    pub revoked: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedPersonalAccessToken {
    pub id: Option<i64>,
    pub user_id: UserId,
    pub name: String,
    pub token: crate::SecretText,
    pub scopes: Vec<String>,
    pub expires_at: Option<String>,
    #[serde(default)]
    pub revoked: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedScimToken {
    pub group_path: Option<String>,
    #[serde(default)]
    pub instance: bool,
    pub token: crate::SecretText,
}

/// A validated seed, turned into the records the store keeps (tokens already digested).
#[derive(Debug, Default)]
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
}

/// What is wrong with a seed file, naming the record (`keys[1] (id 2)`) and the field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{record}: {field}: {message}")]
pub struct SeedError {
    pub record: String,
    pub field: String,
    pub message: String,
}

fn err(record: &str, field: &str, message: impl Into<String>) -> SeedError {
    SeedError {
        record: record.to_owned(),
        field: field.to_owned(),
        message: message.into(),
    }
}

/// GitLab's namespace and project path rule (`Gitlab::PathRegex`): letters, digits, `_`, `-`
/// and `.`, not starting with `-` or `.`, not ending in `.git` or `.atom`.
pub fn valid_path(path: &str) -> bool {
    let mut chars = path.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphanumeric() || first == '_')
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !path.ends_with(".git")
        && !path.ends_with(".atom")
        && !path.ends_with('.')
}

fn timestamp(
    record: &str,
    field: &str,
    value: Option<&str>,
    now: &str,
) -> Result<String, SeedError> {
    match value {
        None => Ok(now.to_owned()),
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .map(|at| gitlab_timestamp(at.with_timezone(&chrono::Utc)))
            .map_err(|_| {
                err(
                    record,
                    field,
                    format!("{text:?} is not an RFC 3339 timestamp"),
                )
            }),
    }
}

fn date(record: &str, field: &str, value: Option<&str>) -> Result<Option<String>, SeedError> {
    value
        .map(|text| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| d.to_string())
                .map_err(|_| err(record, field, format!("{text:?} is not a YYYY-MM-DD date")))
        })
        .transpose()
}

impl SeedFile {
    /// Reads a seed file; a syntax error or an unknown or mistyped field is reported with its
    /// path (`users[0].admin: invalid type ...`).
    pub fn from_json(bytes: &[u8]) -> Result<Self, SeedError> {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        serde_path_to_error::deserialize(de).map_err(|error| {
            let path = error.path().to_string();
            let (record, field) = match path.rsplit_once('.') {
                Some((record, field)) => (record.to_owned(), field.to_owned()),
                None => (path.clone(), String::new()),
            };
            SeedError {
                record,
                field,
                message: error.into_inner().to_string(),
            }
        })
    }

    /// Validates every record and cross-reference and builds the stored records. `now` stamps
    /// records that carry no `created_at`; `digest` turns a plaintext token into what is stored.
    pub fn into_world(
        self,
        now: &str,
        digest: &dyn Fn(&str) -> String,
    ) -> Result<SeedWorld, SeedError> {
        let mut world = SeedWorld {
            settings: self.settings,
            ..SeedWorld::default()
        };

        let mut usernames = HashSet::new();
        let mut emails = HashSet::new();
        let mut user_names: HashMap<UserId, String> = HashMap::new();
        // Namespace id -> full path; user namespaces take the username as their path.
        let mut namespace_paths: HashMap<NamespaceId, String> = HashMap::new();
        for (i, user) in self.users.into_iter().enumerate() {
            let record = format!("users[{i}] (id {})", user.id);
            if user.id <= 0 {
                return Err(err(&record, "id", "must be a positive integer"));
            }
            if user_names.contains_key(&user.id) {
                return Err(err(&record, "id", "duplicate user id"));
            }
            if !valid_path(&user.username) {
                return Err(err(
                    &record,
                    "username",
                    format!("{:?} is not a valid GitLab username", user.username),
                ));
            }
            if !usernames.insert(user.username.to_lowercase()) {
                return Err(err(&record, "username", "already taken by another user"));
            }
            if !user.email.contains('@') {
                return Err(err(&record, "email", "is not an email address"));
            }
            if !emails.insert(user.email.to_lowercase()) {
                return Err(err(&record, "email", "already taken by another user"));
            }
            if user.name.trim().is_empty() {
                return Err(err(&record, "name", "must not be empty"));
            }
            if let Some(ns) = user.namespace_id
                && namespace_paths.insert(ns, user.username.clone()).is_some()
            {
                return Err(err(&record, "namespace_id", "duplicate namespace id"));
            }
            user_names.insert(user.id, user.name.clone());
            world.users.push(User {
                id: user.id,
                created_at: timestamp(&record, "created_at", user.created_at.as_deref(), now)?,
                username: user.username,
                name: user.name,
                email: user.email,
                admin: user.admin,
                state: user.state,
                two_factor_enabled: user.two_factor_enabled,
                namespace_id: user.namespace_id,
            });
        }
        let check_member = |record: &str, member: &Member| {
            if user_names.contains_key(&member.user_id) {
                Ok(())
            } else {
                Err(err(
                    record,
                    "members",
                    format!("unknown user {}", member.user_id),
                ))
            }
        };

        // Groups may be listed in any order: resolve parents first, rejecting cycles.
        let groups: BTreeMap<NamespaceId, (usize, SeedGroup)> = {
            let mut map = BTreeMap::new();
            for (i, group) in self.groups.into_iter().enumerate() {
                let record = format!("groups[{i}] (id {})", group.id);
                if !valid_path(&group.path) {
                    return Err(err(
                        &record,
                        "path",
                        format!("{:?} is not a valid GitLab path", group.path),
                    ));
                }
                if namespace_paths.contains_key(&group.id) || map.contains_key(&group.id) {
                    return Err(err(&record, "id", "duplicate namespace id"));
                }
                map.insert(group.id, (i, group));
            }
            map
        };
        let mut ancestors_of: HashMap<NamespaceId, Vec<NamespaceId>> = HashMap::new();
        for (&id, (i, group)) in &groups {
            let record = format!("groups[{i}] (id {id})");
            let mut chain = vec![id];
            let mut segments = vec![group.path.clone()];
            let mut parent = group.parent_id;
            while let Some(parent_id) = parent {
                if chain.contains(&parent_id) {
                    return Err(err(&record, "parent_id", "groups form a cycle"));
                }
                let Some((_, parent_group)) = groups.get(&parent_id) else {
                    return Err(err(
                        &record,
                        "parent_id",
                        format!("unknown group {parent_id}"),
                    ));
                };
                chain.push(parent_id);
                segments.push(parent_group.path.clone());
                parent = parent_group.parent_id;
            }
            segments.reverse();
            ancestors_of.insert(id, chain);
            namespace_paths.insert(id, segments.join("/"));
        }
        let mut full_paths = HashSet::new();
        for (&id, (i, group)) in &groups {
            let record = format!("groups[{i}] (id {id})");
            let full_path = namespace_paths[&id].clone();
            if !full_paths.insert(full_path.to_lowercase()) {
                return Err(err(
                    &record,
                    "path",
                    format!("{full_path:?} is already taken"),
                ));
            }
            for member in &group.members {
                check_member(&record, member)?;
                world.group_members.push((id, *member));
            }
            world.groups.push(Group {
                id,
                path: group.path.clone(),
                name: group.name.clone(),
                parent_id: group.parent_id,
                full_path,
                ancestor_ids: ancestors_of[&id].clone(),
                visibility: group.visibility,
                default_membership_role: group.default_membership_role,
            });
        }

        let mut project_ids = HashSet::new();
        for (i, project) in self.projects.into_iter().enumerate() {
            let record = format!("projects[{i}] (id {})", project.id);
            if !project_ids.insert(project.id) {
                return Err(err(&record, "id", "duplicate project id"));
            }
            if !valid_path(&project.path) {
                return Err(err(
                    &record,
                    "path",
                    format!("{:?} is not a valid GitLab path", project.path),
                ));
            }
            let Some(namespace_path) = namespace_paths.get(&project.namespace_id) else {
                return Err(err(
                    &record,
                    "namespace_id",
                    format!("unknown namespace {}", project.namespace_id),
                ));
            };
            let full_path = format!("{namespace_path}/{}", project.path);
            if !full_paths.insert(full_path.to_lowercase()) {
                return Err(err(
                    &record,
                    "path",
                    format!("{full_path:?} is already taken"),
                ));
            }
            for member in &project.members {
                check_member(&record, member)?;
                world.project_members.push((project.id, *member));
            }
            let error_tracking = project.error_tracking.unwrap_or(SeedErrorTracking {
                enabled: false,
                client_keys: Vec::new(),
            });
            for key in error_tracking.client_keys {
                if key.public_key.is_empty() {
                    return Err(err(
                        &record,
                        "error_tracking",
                        "client key public_key must not be empty",
                    ));
                }
                world.error_tracking_keys.push((project.id, key));
            }
            if !project.scan_execution_policies.is_empty() {
                let mut policies = Vec::new();
                for policy in project.scan_execution_policies {
                    if policy.name.trim().is_empty() {
                        return Err(err(
                            &record,
                            "scan_execution_policies",
                            "a policy needs a name",
                        ));
                    }
                    policies.push(ScanExecutionPolicy {
                        updated_at: timestamp(
                            &record,
                            "scan_execution_policies",
                            policy.updated_at.as_deref(),
                            now,
                        )?,
                        name: policy.name,
                        description: policy.description,
                        enabled: policy.enabled,
                        cadence: policy.cadence,
                        agents: policy.agents,
                    });
                }
                world.scan_execution_policies.push((project.id, policies));
            }
            world.projects.push(Project {
                error_tracking_enabled: error_tracking.enabled,
                id: project.id,
                namespace_id: project.namespace_id,
                name: project.name.unwrap_or_else(|| project.path.clone()),
                path: project.path,
                full_path,
                namespace_ancestor_ids: ancestors_of
                    .get(&project.namespace_id)
                    .cloned()
                    .unwrap_or_else(|| vec![project.namespace_id]),
                visibility: project.visibility,
                archived: project.archived,
                lfs_enabled: project.lfs_enabled,
                default_branch: project.default_branch,
                protected_branches: project.protected_branches,
                protected_tags: project.protected_tags,
                created_at: timestamp(&record, "created_at", project.created_at.as_deref(), now)?,
            });
        }

        let mut key_ids = HashSet::new();
        let mut fingerprints = HashSet::new();
        for (i, key) in self.keys.into_iter().enumerate() {
            let record = format!("keys[{i}] (id {})", key.id);
            if !key_ids.insert(key.id) {
                return Err(err(&record, "id", "duplicate key id"));
            }
            let parsed =
                OpensshKey::parse(&key.key).map_err(|e| err(&record, "key", e.to_string()))?;
            if !fingerprints.insert(parsed.fingerprint_sha256.clone()) {
                return Err(err(
                    &record,
                    "key",
                    "has already been taken (same fingerprint as another key)",
                ));
            }
            let owner_name =
                match key.user_id {
                    Some(user_id) => Some(user_names.get(&user_id).cloned().ok_or_else(|| {
                        err(&record, "user_id", format!("unknown user {user_id}"))
                    })?),
                    None if key.deploy => None,
                    None => return Err(err(&record, "user_id", "a user key needs its owner")),
                };
            if !key.deploy && !key.projects.is_empty() {
                return Err(err(
                    &record,
                    "projects",
                    "only deploy keys are enabled on projects",
                ));
            }
            for link in &key.projects {
                if !project_ids.contains(&link.project_id) {
                    return Err(err(
                        &record,
                        "projects",
                        format!("unknown project {}", link.project_id),
                    ));
                }
            }
            world.keys.push(SshKey {
                id: key.id,
                user_id: key.user_id,
                owner_name,
                title: key.title,
                key: key.key.trim().to_owned(),
                algorithm: parsed.algorithm,
                blob_base64: parsed.blob_base64,
                fingerprint_sha256: parsed.fingerprint_sha256,
                usage_type: key.usage_type,
                deploy: key.deploy,
                deploy_projects: key.projects,
                created_at: timestamp(&record, "created_at", key.created_at.as_deref(), now)?,
                expires_at: key
                    .expires_at
                    .as_deref()
                    .map(|text| timestamp(&record, "expires_at", Some(text), now))
                    .transpose()?,
            });
        }

        let mut agent_ids = HashSet::new();
        for (i, agent) in self.agents.into_iter().enumerate() {
            let record = format!("agents[{i}] (id {})", agent.id);
            if !agent_ids.insert(agent.id) {
                return Err(err(&record, "id", "duplicate agent id"));
            }
            if !project_ids.contains(&agent.project_id) {
                return Err(err(
                    &record,
                    "project_id",
                    format!("unknown project {}", agent.project_id),
                ));
            }
            if agent.token.is_empty() {
                return Err(err(&record, "token", "must not be empty"));
            }
            let root_namespace_id = world
                .projects
                .iter()
                .find(|project| project.id == agent.project_id)
                .map(Project::root_namespace_id);
            world.agents.push(Agent {
                id: agent.id,
                name: agent.name,
                project_id: agent.project_id,
                token_digest: digest(agent.token.expose()),
                revoked: agent.revoked,
                created_at: now.to_owned(),
                root_namespace_id,
            });
        }

        for (i, token) in self.personal_access_tokens.into_iter().enumerate() {
            let id = token.id.unwrap_or(i as i64 + 1);
            let record = format!("personal_access_tokens[{i}] (id {id})");
            if !user_names.contains_key(&token.user_id) {
                return Err(err(
                    &record,
                    "user_id",
                    format!("unknown user {}", token.user_id),
                ));
            }
            if token.token.is_empty() {
                return Err(err(&record, "token", "must not be empty"));
            }
            if token.scopes.is_empty() {
                return Err(err(&record, "scopes", "must name at least one scope"));
            }
            world.personal_access_tokens.push(PersonalAccessToken {
                id,
                user_id: token.user_id,
                name: token.name,
                token_digest: digest(token.token.expose()),
                scopes: token.scopes,
                expires_at: date(&record, "expires_at", token.expires_at.as_deref())?,
                revoked: token.revoked,
                created_at: now.to_owned(),
            });
        }

        for (i, token) in self.scim_tokens.into_iter().enumerate() {
            let record = format!("scim_tokens[{i}]");
            let scope = match (token.group_path, token.instance) {
                (Some(path), false) => {
                    let group = world
                        .groups
                        .iter()
                        .find(|g| g.full_path.eq_ignore_ascii_case(&path))
                        .ok_or_else(|| {
                            err(&record, "group_path", format!("unknown group {path:?}"))
                        })?;
                    if group.parent_id.is_some() {
                        return Err(err(
                            &record,
                            "group_path",
                            "SCIM is configured on top-level groups only",
                        ));
                    }
                    ScimScope::Group { group_id: group.id }
                }
                (None, true) => ScimScope::Instance,
                _ => {
                    return Err(err(
                        &record,
                        "group_path",
                        "give either group_path or instance: true",
                    ));
                }
            };
            if token.token.is_empty() {
                return Err(err(&record, "token", "must not be empty"));
            }
            world.scim_tokens.push(ScimToken {
                scope,
                token_digest: digest(token.token.expose()),
            });
        }

        Ok(world)
    }
}

/// Parses and validates in one step.
pub fn parse(
    bytes: &[u8],
    now: &str,
    digest: &dyn Fn(&str) -> String,
) -> Result<SeedWorld, SeedError> {
    SeedFile::from_json(bytes)?.into_world(now, digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AccessLevel;

    const NOW: &str = "2026-01-01T00:00:00.000Z";
    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMzna5aq8PDltRbXkTJV8x951Pl7NXp3IYEEAI3XhPBb root@laptop";

    fn digest(token: &str) -> String {
        format!("digest:{}", token.len())
    }

    fn world(json: serde_json::Value) -> Result<SeedWorld, SeedError> {
        parse(json.to_string().as_bytes(), NOW, &digest)
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "users": [{"id": 1, "username": "root", "name": "Administrator", "email": "admin@example.com",
                       "admin": true, "state": "active", "two_factor_enabled": false, "namespace_id": 1}],
            "keys": [{"id": 1, "user_id": 1, "title": "root@laptop", "key": KEY}],
            "groups": [{"id": 10, "path": "group", "name": "Group", "parent_id": null,
                        "members": [{"user_id": 1, "access_level": 50}]},
                       {"id": 11, "path": "sub", "name": "Sub", "parent_id": 10}],
            "projects": [{"id": 26, "namespace_id": 11, "path": "private", "visibility": "private",
                          "protected_branches": [{"name": "main", "push_access_level": 40,
                                                  "merge_access_level": 40, "allow_force_push": false}]}],
            "agents": [{"id": 7, "name": "agent1", "project_id": 26, "token": "secret-agent"}],
            "scim_tokens": [{"group_path": "group", "token": "t"}, {"instance": true, "token": "u"}]
        })
    }

    #[test]
    fn builds_full_paths_ancestors_and_digests() {
        let world = world(base()).unwrap();
        assert_eq!(world.projects[0].full_path, "group/sub/private");
        assert_eq!(world.projects[0].namespace_ancestor_ids, vec![11, 10]);
        assert_eq!(world.projects[0].root_namespace_id(), 10);
        assert_eq!(world.keys[0].owner_name.as_deref(), Some("Administrator"));
        assert_eq!(world.keys[0].created_at, NOW);
        assert_eq!(world.agents[0].token_digest, "digest:12");
        assert_eq!(
            world.group_members,
            vec![(
                10,
                Member {
                    user_id: 1,
                    access_level: AccessLevel::Owner
                }
            )]
        );
        assert_eq!(
            world.scim_tokens[0].scope,
            ScimScope::Group { group_id: 10 }
        );
    }

    #[test]
    fn unknown_field_names_record_and_field() {
        let mut seed = base();
        seed["users"][0]["usrname"] = "x".into();
        let error = world(seed).unwrap_err();
        assert_eq!(error.record, "users[0]");
        assert_eq!(error.field, "usrname");
    }

    #[test]
    fn mistyped_field_names_record_and_field() {
        let mut seed = base();
        seed["projects"][0]["archived"] = "yes".into();
        let error = world(seed).unwrap_err();
        assert_eq!(
            (error.record.as_str(), error.field.as_str()),
            ("projects[0]", "archived")
        );
    }

    #[test]
    fn semantic_errors_name_the_record() {
        type Mutation = fn(&mut serde_json::Value);
        let cases: Vec<(Mutation, &str, &str)> = vec![
            (
                |s| s["keys"][0]["key"] = "ssh-ed25519 nope".into(),
                "keys[0] (id 1)",
                "key",
            ),
            (
                |s| s["keys"][0]["user_id"] = 5.into(),
                "keys[0] (id 1)",
                "user_id",
            ),
            (
                |s| s["groups"][1]["parent_id"] = 99.into(),
                "groups[1] (id 11)",
                "parent_id",
            ),
            (
                |s| s["projects"][0]["namespace_id"] = 99.into(),
                "projects[0] (id 26)",
                "namespace_id",
            ),
            (
                |s| s["agents"][0]["project_id"] = 1.into(),
                "agents[0] (id 7)",
                "project_id",
            ),
            (
                |s| s["users"][0]["username"] = "-bad".into(),
                "users[0] (id 1)",
                "username",
            ),
            (
                |s| s["scim_tokens"][0]["group_path"] = "group/sub".into(),
                "scim_tokens[0]",
                "group_path",
            ),
            (
                |s| s["projects"][0]["protected_branches"][0]["push_access_level"] = 35.into(),
                "projects[0].protected_branches[0]",
                "push_access_level",
            ),
        ];
        for (mutate, record, field) in cases {
            let mut seed = base();
            mutate(&mut seed);
            let error = world(seed).unwrap_err();
            assert_eq!(
                (error.record.as_str(), error.field.as_str()),
                (record, field),
                "{error}"
            );
        }
    }

    #[test]
    fn group_cycles_are_rejected() {
        let mut seed = base();
        seed["groups"][0]["parent_id"] = 11.into();
        assert!(world(seed).unwrap_err().message.contains("cycle"));
    }

    #[test]
    fn paths_follow_gitlab_rules() {
        assert!(valid_path("gnuwget"));
        assert!(valid_path("my.project_1-x"));
        for bad in ["", "-x", ".x", "x.git", "x.atom", "a/b", "sp ace", "x."] {
            assert!(!valid_path(bad), "{bad}");
        }
    }

    #[test]
    fn expired_and_revoked_tokens_are_valid_data() {
        let mut seed = base();
        seed["personal_access_tokens"] = serde_json::json!([
            {"user_id": 1, "name": "old", "token": "a", "scopes": ["api"], "expires_at": "2020-01-01"},
            {"user_id": 1, "name": "gone", "token": "bb", "scopes": ["api"], "revoked": true}
        ]);
        let world = world(seed).unwrap();
        let tokens = &world.personal_access_tokens;
        assert_eq!(tokens[0].expires_at.as_deref(), Some("2020-01-01"));
        assert!(!tokens[0].revoked);
        assert!(tokens[1].revoked);
        assert_eq!((tokens[0].id, tokens[1].id), (1, 2));
    }

    #[test]
    fn gitlab_com_defaults_to_on_and_can_be_turned_off() {
        let mut seed = base();
        seed["settings"] = serde_json::json!({"gitlab_url": "https://gitlab.example.com",
            "gitaly": {"address": "tcp://gitaly:8075", "token": "t", "storage": "default"}});
        assert!(world(seed.clone()).unwrap().settings.unwrap().gitlab_com);
        seed["settings"]["gitlab_com"] = false.into();
        assert!(!world(seed.clone()).unwrap().settings.unwrap().gitlab_com);
        seed["settings"]["gitlab_com"] = "no".into();
        assert_eq!(world(seed).unwrap_err().field, "gitlab_com");
    }
}
