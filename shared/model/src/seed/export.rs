//! The way back: stored records written as a world file, so that a deployment can be backed
//! up, diffed and reviewed, and applying the file plans nothing. Tokens go out as the digests
//! the store keeps (`token_digest`), Gitaly's token not at all.

use std::collections::BTreeMap;

use super::*;

impl SeedWorld {
    /// The file that validates back into this world: every record with its timestamps, in id
    /// order, memberships and a project's keys and policies inside their group or project.
    pub fn to_file(&self) -> SeedFile {
        let mut users: Vec<&User> = self.users.iter().collect();
        users.sort_by_key(|user| user.id);
        let mut keys: Vec<&SshKey> = self.keys.iter().collect();
        keys.sort_by_key(|key| key.id);
        let mut groups: Vec<&Group> = self.groups.iter().collect();
        groups.sort_by_key(|group| group.id);
        let mut projects: Vec<&Project> = self.projects.iter().collect();
        projects.sort_by_key(|project| project.id);
        let mut agents: Vec<&Agent> = self.agents.iter().collect();
        agents.sort_by_key(|agent| agent.id);
        let mut tokens: Vec<&PersonalAccessToken> = self.personal_access_tokens.iter().collect();
        tokens.sort_by_key(|token| token.id);

        let members_of = |pairs: &[(i64, Member)]| {
            let mut by_owner: BTreeMap<i64, Vec<Member>> = BTreeMap::new();
            for (owner, member) in pairs {
                by_owner.entry(*owner).or_default().push(*member);
            }
            for members in by_owner.values_mut() {
                members.sort_by_key(|member| member.user_id);
            }
            by_owner
        };
        let mut group_members = members_of(&self.group_members);
        let mut project_members = members_of(&self.project_members);
        let mut client_keys: BTreeMap<ProjectId, Vec<ErrorTrackingClientKey>> = BTreeMap::new();
        for (project_id, key) in &self.error_tracking_keys {
            client_keys
                .entry(*project_id)
                .or_default()
                .push(key.clone());
        }
        for keys in client_keys.values_mut() {
            keys.sort_by(|a, b| a.public_key.cmp(&b.public_key));
        }
        let mut policies: BTreeMap<ProjectId, &Vec<ScanExecutionPolicy>> = self
            .scan_execution_policies
            .iter()
            .map(|(project_id, policies)| (*project_id, policies))
            .collect();
        let group_paths: BTreeMap<NamespaceId, &str> = self
            .groups
            .iter()
            .map(|group| (group.id, group.full_path.as_str()))
            .collect();

        SeedFile {
            users: users.into_iter().map(seed_user).collect(),
            keys: keys.into_iter().map(seed_key).collect(),
            groups: groups
                .into_iter()
                .map(|group| SeedGroup {
                    id: group.id,
                    path: group.path.clone(),
                    name: group.name.clone(),
                    parent_id: group.parent_id,
                    visibility: group.visibility,
                    members: group_members.remove(&group.id).unwrap_or_default(),
                    default_membership_role: group.default_membership_role,
                })
                .collect(),
            projects: projects
                .into_iter()
                .map(|project| {
                    let client_keys = client_keys.remove(&project.id).unwrap_or_default();
                    SeedProject {
                        id: project.id,
                        namespace_id: project.namespace_id,
                        path: project.path.clone(),
                        name: Some(project.name.clone()),
                        visibility: project.visibility,
                        archived: project.archived,
                        lfs_enabled: project.lfs_enabled,
                        default_branch: project.default_branch.clone(),
                        members: project_members.remove(&project.id).unwrap_or_default(),
                        protected_branches: project.protected_branches.clone(),
                        protected_tags: project.protected_tags.clone(),
                        error_tracking: (project.error_tracking_enabled || !client_keys.is_empty())
                            .then_some(SeedErrorTracking {
                                enabled: project.error_tracking_enabled,
                                client_keys,
                            }),
                        scan_execution_policies: policies
                            .remove(&project.id)
                            .into_iter()
                            .flatten()
                            .map(seed_policy)
                            .collect(),
                        created_at: Some(project.created_at.clone()),
                    }
                })
                .collect(),
            agents: agents
                .into_iter()
                .map(|agent| SeedAgent {
                    id: agent.id,
                    name: agent.name.clone(),
                    project_id: agent.project_id,
                    token: None,
                    token_digest: Some(agent.token_digest.clone()),
                    revoked: agent.revoked,
                })
                .collect(),
            personal_access_tokens: tokens
                .into_iter()
                .map(|token| SeedPersonalAccessToken {
                    id: Some(token.id),
                    user_id: token.user_id,
                    name: token.name.clone(),
                    token: None,
                    token_digest: Some(token.token_digest.clone()),
                    scopes: token.scopes.clone(),
                    expires_at: token.expires_at.clone(),
                    revoked: token.revoked,
                })
                .collect(),
            scim_tokens: {
                let mut tokens: Vec<SeedScimToken> = self
                    .scim_tokens
                    .iter()
                    .map(|token| {
                        let group_path = match &token.scope {
                            ScimScope::Group { group_id } => {
                                group_paths.get(group_id).map(|path| (*path).to_owned())
                            }
                            ScimScope::Instance => None,
                        };
                        SeedScimToken {
                            instance: token.scope == ScimScope::Instance,
                            group_path,
                            token: None,
                            token_digest: Some(token.token_digest.clone()),
                        }
                    })
                    .collect();
                tokens.sort_by(|a, b| {
                    (&a.group_path, &a.token_digest).cmp(&(&b.group_path, &b.token_digest))
                });
                tokens
            },
            settings: self.settings.as_ref().map(|settings| SeedSettings {
                gitlab_url: settings.gitlab_url.clone(),
                gitaly: SeedGitaly {
                    address: settings.gitaly.address.clone(),
                    token: None,
                    storage: settings.gitaly.storage.clone(),
                },
                gitlab_com: settings.gitlab_com,
            }),
        }
    }
}

fn seed_user(user: &User) -> SeedUser {
    SeedUser {
        id: user.id,
        username: user.username.clone(),
        name: user.name.clone(),
        email: user.email.clone(),
        admin: user.admin,
        state: user.state,
        two_factor_enabled: user.two_factor_enabled,
        namespace_id: user.namespace_id,
        created_at: Some(user.created_at.clone()),
    }
}

fn seed_key(key: &SshKey) -> SeedKey {
    SeedKey {
        id: key.id,
        user_id: key.user_id,
        title: key.title.clone(),
        key: key.key.clone(),
        deploy: key.deploy,
        projects: key.deploy_projects.clone(),
        usage_type: key.usage_type,
        created_at: Some(key.created_at.clone()),
        expires_at: key.expires_at.clone(),
    }
}

fn seed_policy(policy: &ScanExecutionPolicy) -> SeedScanExecutionPolicy {
    SeedScanExecutionPolicy {
        name: policy.name.clone(),
        description: policy.description.clone(),
        enabled: policy.enabled,
        cadence: policy.cadence.clone(),
        agents: policy.agents.clone(),
        updated_at: Some(policy.updated_at.clone()),
    }
}
