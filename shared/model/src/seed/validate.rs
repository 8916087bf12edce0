//! Validation: a seed file checked whole (every record, every cross-reference) and turned
//! into the records the store keeps. Every error names the record and the field.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;

use super::*;
use crate::fingerprint::OpensshKey;

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

/// A record's token as the store keeps it: the digest of `token`, or `token_digest` as given
/// (an export's). Exactly one of the two.
fn stored_digest(
    record: &str,
    token: Option<&crate::SecretText>,
    token_digest: Option<String>,
    digest: &dyn Fn(&str) -> String,
) -> Result<String, SeedError> {
    match (token, token_digest) {
        (Some(token), None) if token.is_empty() => Err(err(record, "token", "must not be empty")),
        (Some(token), None) => Ok(digest(token.expose())),
        (None, Some(given)) => {
            if given.len() == 64
                && given
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            {
                Ok(given)
            } else {
                Err(err(
                    record,
                    "token_digest",
                    "is not a SHA-256 digest (64 lowercase hex digits)",
                ))
            }
        }
        (Some(_), Some(_)) => Err(err(record, "token", "give token or token_digest, not both")),
        (None, None) => Err(err(record, "token", "is missing (or give token_digest)")),
    }
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
            keeps_gitaly_token: self
                .settings
                .as_ref()
                .is_some_and(|s| s.gitaly.token.is_none()),
            settings: self.settings.map(|s| Settings {
                gitlab_url: s.gitlab_url,
                gitaly: GitalySettings {
                    address: s.gitaly.address,
                    token: s.gitaly.token.unwrap_or_default(),
                    storage: s.gitaly.storage,
                },
                gitlab_com: s.gitlab_com,
            }),
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
            let token_digest =
                stored_digest(&record, agent.token.as_ref(), agent.token_digest, digest)?;
            let root_namespace_id = world
                .projects
                .iter()
                .find(|project| project.id == agent.project_id)
                .map(Project::root_namespace_id);
            world.agents.push(Agent {
                id: agent.id,
                name: agent.name,
                project_id: agent.project_id,
                token_digest,
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
            let token_digest =
                stored_digest(&record, token.token.as_ref(), token.token_digest, digest)?;
            if token.scopes.is_empty() {
                return Err(err(&record, "scopes", "must name at least one scope"));
            }
            world.personal_access_tokens.push(PersonalAccessToken {
                id,
                user_id: token.user_id,
                name: token.name,
                token_digest,
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
            let token_digest =
                stored_digest(&record, token.token.as_ref(), token.token_digest, digest)?;
            world.scim_tokens.push(ScimToken {
                scope,
                token_digest,
            });
        }

        Ok(world)
    }
}
