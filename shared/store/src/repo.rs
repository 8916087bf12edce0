//! Typed access to the store, written once over the port: every endpoint reads and writes
//! records through here, never through raw keys.

use std::sync::Arc;

use gl_model::seed::SeedWorld;
use gl_model::{
    AccessLevel, Member, PersonalAccessToken, Project, ProjectId, Settings, SshKey, User, UserId,
};
use serde::{Deserialize, Serialize};

use crate::{Condition, Item, Key, Store, StoreError, WriteOp, keys};

/// `ROUTE#...` items: GitLab's `routes` table, one full path to one namespace or project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub source_type: RouteSource,
    pub source_id: i64,
    /// For projects the namespace chain, for groups the group and its ancestors (empty for a
    /// personal namespace): memberships can then be read in the same round trip as the record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_ancestor_ids: Vec<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RouteSource {
    Namespace,
    Project,
}

/// `USERNAME#...` items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsernameLookup {
    pub user_id: UserId,
}

/// A user's personal namespace (`NAMESPACE#<id>` / `USERNS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserNamespace {
    pub id: i64,
    pub path: String,
    pub user_id: UserId,
}

/// How `/allowed` and its kin name the actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorQuery {
    KeyId(i64),
    UserId(UserId),
    Username(String),
    Nobody,
}

/// How they name the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectQuery {
    Id(ProjectId),
    FullPath(String),
    /// A git repository path as typed on the SSH command line, without `.git`: a project, or
    /// `<project>.wiki` for its wiki. Resolved as `Gitlab::RepoPath.parse` does, the project
    /// reading first; GitLab refuses a project path that clashes with another's wiki.
    RepositoryPath(String),
    Nothing,
}

/// What an agent configuration's `user_access` names, as KAS reported it: the `access_as`
/// slice GitLab keeps, and the project and group full paths (at most 500 of each).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserAccessRequest {
    pub config: serde_json::Map<String, serde_json::Value>,
    pub project_paths: Vec<String>,
    pub group_paths: Vec<String>,
}

/// Everything a git access decision reads, loaded in two round trips whatever the request.
#[derive(Debug, Clone, PartialEq)]
pub struct GitAccessRecords {
    pub key: Option<SshKey>,
    pub user: Option<User>,
    pub project: Option<Project>,
    /// The user's highest role on the project (direct, inherited, or personal-namespace owner).
    pub member_access: AccessLevel,
    /// Whether a `RepositoryPath` named the project's wiki rather than its code.
    pub repo_type: gl_model::RepoType,
    pub settings: Settings,
}

/// What a seed import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub written: usize,
    pub already_present: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "{record}: conflicts with what the store already holds (a username, path, key or token taken by another record)"
    )]
    Conflict { record: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `Gitlab::ReferenceCounter::REFERENCE_EXPIRE_TIME`.
pub const REFERENCE_COUNTER_TTL_SECONDS: i64 = 600;

/// When a Starboard finding was last reported, and when the agent's last scan was recorded
/// (microseconds since the epoch).
const REPORTED_AT: &str = "reported_at_us";
const SCANNED_AT: &str = "scanned_at_us";
const SCAN_PARTS: &str = "parts";
/// Kept UUIDs per scan item: 8,000 of 36 bytes (callers keep only hyphenated UUIDs) stay
/// below DynamoDB's 400 KB item limit, and a 4 MiB request body fits in fewer parts than a
/// transaction's 100 items.
const SCAN_UUIDS_PER_PART: usize = 8_000;
const REFERENCE_COUNT: &str = "count";

#[derive(Clone)]
pub struct Repository {
    store: Arc<dyn Store>,
}

/// The role a membership item gives `user_id`: a member's level, or Owner for the owner of a
/// personal namespace (GitLab's project authorizations count the namespace owner as Owner).
fn membership_level(key: &Key, item: &Item, user_id: UserId) -> Result<AccessLevel, StoreError> {
    if key.sk == "USERNS" {
        let namespace: UserNamespace = item.decode()?;
        Ok(if namespace.user_id == user_id {
            AccessLevel::Owner
        } else {
            AccessLevel::NoAccess
        })
    } else {
        Ok(item.decode::<Member>()?.access_level)
    }
}

/// The items whose memberships give a user a role on a project: the project's own, each
/// ancestor namespace's, and the personal namespace it may sit in.
fn project_membership_keys(project_id: ProjectId, ancestors: &[i64], user_id: UserId) -> Vec<Key> {
    let mut found = vec![keys::project_member(project_id, user_id)];
    found.extend(
        ancestors
            .iter()
            .map(|ancestor| keys::namespace_member(*ancestor, user_id)),
    );
    if let Some(namespace) = ancestors.first() {
        found.push(keys::user_namespace(*namespace));
    }
    found
}

impl Repository {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    async fn get_one<T: serde::de::DeserializeOwned>(
        &self,
        key: Key,
    ) -> Result<Option<T>, StoreError> {
        match self.store.get_many(&[key]).await?.pop().flatten() {
            Some(item) => item.decode().map(Some),
            None => Ok(None),
        }
    }

    fn settings_from(item: Option<&Item>) -> Result<Settings, StoreError> {
        item.map_or_else(|| Ok(Settings::default()), Item::decode)
    }

    pub async fn settings(&self) -> Result<Settings, StoreError> {
        Self::settings_from(self.get_one_item(keys::settings()).await?.as_ref())
    }

    async fn get_one_item(&self, key: Key) -> Result<Option<Item>, StoreError> {
        Ok(self.store.get_many(&[key]).await?.pop().flatten())
    }

    /// The authentication-capable key with this SHA-256 fingerprint, and the instance settings
    /// (for the publishable key's host), in one round trip.
    pub async fn key_by_fingerprint_with_settings(
        &self,
        fingerprint_sha256: &str,
    ) -> Result<(Option<SshKey>, Settings), StoreError> {
        let found = self
            .store
            .get_many(&[keys::key_fingerprint(fingerprint_sha256), keys::settings()])
            .await?;
        let key = found[0].as_ref().map(Item::decode::<SshKey>).transpose()?;
        let settings = Self::settings_from(found[1].as_ref())?;
        Ok((key.filter(|k| k.usage_type.authenticates()), settings))
    }

    /// An authentication-capable key by id (`Key.auth.find_by_id`).
    pub async fn auth_key_by_id(&self, id: i64) -> Result<Option<SshKey>, StoreError> {
        let key: Option<SshKey> = self.get_one(keys::ssh_key(id)).await?;
        Ok(key.filter(|k| k.usage_type.authenticates()))
    }

    pub async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.get_one(keys::user(id)).await
    }

    /// `User.find_by_username`, case-insensitive like GitLab's.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let Some(lookup) = self
            .get_one::<UsernameLookup>(keys::username(username))
            .await?
        else {
            return Ok(None);
        };
        self.user_by_id(lookup.user_id).await
    }

    /// Loads the actor, the project, the user's memberships and the settings. Round 1 reads
    /// the actor's item, the project (or its route, which carries the namespace chain) and the
    /// settings; round 2 reads what those point to: the user, the project, and the membership
    /// items of the project and of every ancestor namespace.
    pub async fn load_git_access(
        &self,
        actor: &ActorQuery,
        project: &ProjectQuery,
    ) -> Result<GitAccessRecords, StoreError> {
        self.load_git_access_writing(actor, project, |_, _| Vec::new())
            .await
    }

    /// [`Self::load_git_access`], with a write issued alongside round 2: `writes` gets the
    /// actor as GitLab identifies it (`user-<id>` or `key-<id>`) and the project id, as far as
    /// round 1 found them. The write lands even if round 2 then finds the request refused, so
    /// it must be harmless on its own (an expiring token nobody was given).
    pub async fn load_git_access_writing(
        &self,
        actor: &ActorQuery,
        project: &ProjectQuery,
        writes: impl FnOnce(Option<String>, Option<ProjectId>) -> Vec<WriteOp>,
    ) -> Result<GitAccessRecords, StoreError> {
        let actor_key = match actor {
            ActorQuery::KeyId(id) => Some(keys::ssh_key(*id)),
            ActorQuery::UserId(id) => Some(keys::user(*id)),
            ActorQuery::Username(name) => Some(keys::username(name)),
            ActorQuery::Nobody => None,
        };
        let wiki_path = match project {
            ProjectQuery::RepositoryPath(path) => path
                .strip_suffix(gl_model::RepoType::Wiki.path_suffix())
                .filter(|project_path| !project_path.is_empty()),
            _ => None,
        };
        let project_keys: Vec<Key> = match project {
            ProjectQuery::Id(id) => vec![keys::project(*id)],
            ProjectQuery::FullPath(path) | ProjectQuery::RepositoryPath(path) => {
                std::iter::once(path.as_str())
                    .chain(wiki_path)
                    .map(keys::route)
                    .collect()
            }
            ProjectQuery::Nothing => Vec::new(),
        };
        let mut first_keys = vec![keys::settings()];
        first_keys.extend(actor_key.clone());
        first_keys.extend(project_keys.iter().cloned());
        let first = self.store.get_many(&first_keys).await?;
        let settings = Self::settings_from(first[0].as_ref())?;
        let mut rest = first.into_iter().skip(1);
        let actor_item = if actor_key.is_some() {
            rest.next().flatten()
        } else {
            None
        };
        let project_route_item = |item: &Option<Item>| -> Result<bool, StoreError> {
            Ok(match item {
                Some(item) => item.decode::<Route>()?.source_type == RouteSource::Project,
                None => false,
            })
        };
        let project_items: Vec<Option<Item>> = rest.collect();
        let mut repo_type = gl_model::RepoType::Project;
        let project_item = match project_items.as_slice() {
            [code, wiki] if !project_route_item(code)? && project_route_item(wiki)? => {
                repo_type = gl_model::RepoType::Wiki;
                wiki.clone()
            }
            [code, ..] => code.clone(),
            [] => None,
        };

        let mut key = None;
        let mut user = None;
        let user_id = match (actor, actor_item) {
            (ActorQuery::KeyId(_), Some(item)) => {
                let found: SshKey = item.decode()?;
                let owner = found.user_id;
                key = Some(found).filter(|k| k.usage_type.authenticates());
                key.as_ref().and(owner)
            }
            (ActorQuery::UserId(_), Some(item)) => {
                let found: User = item.decode()?;
                let id = found.id;
                user = Some(found);
                Some(id)
            }
            (ActorQuery::Username(_), Some(item)) => Some(item.decode::<UsernameLookup>()?.user_id),
            _ => None,
        };
        let mut project_record = None;
        let (project_id, ancestors) = match (project, project_item) {
            (ProjectQuery::Id(_), Some(item)) => {
                let found: Project = item.decode()?;
                let target = (Some(found.id), found.namespace_ancestor_ids.clone());
                project_record = Some(found);
                target
            }
            (ProjectQuery::FullPath(_) | ProjectQuery::RepositoryPath(_), Some(item)) => {
                let route: Route = item.decode()?;
                match route.source_type {
                    RouteSource::Project => (Some(route.source_id), route.namespace_ancestor_ids),
                    RouteSource::Namespace => (None, Vec::new()),
                }
            }
            _ => (None, Vec::new()),
        };

        let mut second_keys = Vec::new();
        if user.is_none()
            && let Some(id) = user_id
        {
            second_keys.push(keys::user(id));
        }
        if project_record.is_none()
            && let Some(id) = project_id
        {
            second_keys.push(keys::project(id));
        }
        let membership_start = second_keys.len();
        if let (Some(uid), Some(pid)) = (user_id, project_id) {
            second_keys.extend(project_membership_keys(pid, &ancestors, uid));
        }
        let identifier = match (actor, &key) {
            (ActorQuery::KeyId(_), Some(key)) => Some(format!("key-{}", key.id)),
            (ActorQuery::KeyId(_), None) => None,
            _ => user_id.map(|id| format!("user-{id}")),
        };
        let side_writes = writes(identifier, project_id);
        let side_write = async {
            if side_writes.is_empty() {
                Ok(())
            } else {
                self.store.write(side_writes).await
            }
        };
        let reads = async {
            if second_keys.is_empty() {
                Ok(Vec::new())
            } else {
                self.store.get_many(&second_keys).await
            }
        };
        let (written, second) = tokio::join!(side_write, reads);
        written?;
        let second = second?;
        let mut member_access = AccessLevel::NoAccess;
        if !second_keys.is_empty() {
            let mut next = 0;
            if user.is_none() && user_id.is_some() {
                user = second[next].as_ref().map(Item::decode).transpose()?;
                next += 1;
            }
            if project_record.is_none() && project_id.is_some() {
                project_record = second[next].as_ref().map(Item::decode).transpose()?;
            }
            for (item_key, item) in second_keys[membership_start..]
                .iter()
                .zip(&second[membership_start..])
            {
                let Some(item) = item else { continue };
                let level = match user_id {
                    Some(user_id) => membership_level(item_key, item, user_id)?,
                    None => AccessLevel::NoAccess,
                };
                member_access = member_access.max(level);
            }
        }
        Ok(GitAccessRecords {
            key,
            user,
            project: project_record,
            member_access,
            repo_type,
            settings,
        })
    }

    /// A project by id and the settings, in one round trip.
    pub async fn project_with_settings(
        &self,
        id: ProjectId,
    ) -> Result<(Option<Project>, Settings), StoreError> {
        let found = self
            .store
            .get_many(&[keys::project(id), keys::settings()])
            .await?;
        let project = found[0].as_ref().map(Item::decode).transpose()?;
        Ok((project, Self::settings_from(found[1].as_ref())?))
    }

    /// The write that stores an LFS token: its digest, whom and which project it is for, and
    /// an expiry after which the item is gone.
    pub fn lfs_token_write(
        digest: &str,
        actor: &str,
        project_id: ProjectId,
        expires_at: i64,
    ) -> WriteOp {
        let record = serde_json::json!({"actor": actor, "project_id": project_id});
        WriteOp::Put {
            item: Item::new(keys::lfs_token(digest), &record)
                .with(crate::TTL_ATTRIBUTE, expires_at),
            condition: Condition::NotExists,
        }
    }

    /// The LFS token with this digest, unexpired: `(actor, project_id)`.
    pub async fn lfs_token(&self, digest: &str) -> Result<Option<(String, ProjectId)>, StoreError> {
        let item = self.get_one_item(keys::lfs_token(digest)).await?;
        Ok(item.and_then(|item| {
            let actor = item.attrs.get("actor")?.as_str()?.to_owned();
            Some((actor, item.number("project_id")?))
        }))
    }

    /// Replaces a user's 2FA recovery codes with these digests (`generate_otp_backup_codes!`).
    pub async fn replace_recovery_codes(
        &self,
        user_id: UserId,
        digests: &[String],
    ) -> Result<(), StoreError> {
        let record = serde_json::json!({"user_id": user_id, "code_digests": digests});
        self.store
            .write(vec![WriteOp::Put {
                item: Item::new(keys::recovery_codes(user_id), &record),
                condition: Condition::None,
            }])
            .await
    }

    pub async fn recovery_code_digests(&self, user_id: UserId) -> Result<Vec<String>, StoreError> {
        let item = self.get_one_item(keys::recovery_codes(user_id)).await?;
        Ok(item
            .and_then(|item| item.attrs.get("code_digests").cloned())
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default())
    }

    /// Stores a new personal access token with its digest lookup, both or neither; an id or
    /// digest already taken is a `ConditionFailed`.
    pub async fn create_personal_access_token(
        &self,
        token: &PersonalAccessToken,
    ) -> Result<(), StoreError> {
        self.store
            .write(vec![
                WriteOp::Put {
                    item: Item::new(keys::personal_access_token(token.id), token),
                    condition: Condition::NotExists,
                },
                WriteOp::Put {
                    item: Item::new(
                        keys::personal_access_token_digest(&token.token_digest),
                        token,
                    ),
                    condition: Condition::NotExists,
                },
            ])
            .await
    }

    /// The agent of this token with the settings, and the project asked about (its own when
    /// `project` is `None`): round 1 reads the token, the settings and the project by id or
    /// its route; round 2 the project itself when round 1 only found where it is.
    pub async fn agent_with_project(
        &self,
        token_digest: &str,
        project: Option<&ProjectQuery>,
    ) -> Result<(Option<gl_model::Agent>, Option<Project>, Settings), StoreError> {
        let mut first = vec![keys::agent_token(token_digest), keys::settings()];
        match project {
            Some(ProjectQuery::Id(id)) => first.push(keys::project(*id)),
            Some(ProjectQuery::FullPath(path)) => first.push(keys::route(path)),
            _ => {}
        }
        let found = self.store.get_many(&first).await?;
        let agent: Option<gl_model::Agent> = found[0].as_ref().map(Item::decode).transpose()?;
        let settings = Self::settings_from(found[1].as_ref())?;
        let Some(agent) = agent.filter(|agent| !agent.revoked) else {
            return Ok((None, None, settings));
        };
        let project_id = match project {
            None => Some(agent.project_id),
            Some(ProjectQuery::Id(_)) => {
                let project = found[2].as_ref().map(Item::decode).transpose()?;
                return Ok((Some(agent), project, settings));
            }
            Some(ProjectQuery::FullPath(_)) => {
                match found[2].as_ref().map(Item::decode::<Route>).transpose()? {
                    Some(route) if route.source_type == RouteSource::Project => {
                        Some(route.source_id)
                    }
                    _ => None,
                }
            }
            Some(ProjectQuery::Nothing | ProjectQuery::RepositoryPath(_)) => None,
        };
        let project = match project_id {
            Some(id) => self.get_one(keys::project(id)).await?,
            None => None,
        };
        Ok((Some(agent), project, settings))
    }

    pub async fn agent_by_id(&self, id: i64) -> Result<Option<gl_model::Agent>, StoreError> {
        self.get_one(keys::agent(id)).await
    }

    /// Adds usage counters and unique-counter members in one atomic update, so concurrent
    /// reports never lose each other's counts.
    pub async fn record_kas_metrics(
        &self,
        key: Key,
        counters: Vec<(String, i64)>,
        uniques: Vec<(String, Vec<i64>)>,
    ) -> Result<(), StoreError> {
        let mut add: Vec<(String, crate::Addend)> =
            counters.into_iter().map(|(n, v)| (n, v.into())).collect();
        add.extend(
            uniques
                .into_iter()
                .map(|(n, v)| (n, crate::Addend::NumberSet(v))),
        );
        if add.is_empty() {
            return Ok(());
        }
        self.store
            .write(vec![WriteOp::Update {
                key,
                add,
                set: Vec::new(),
                condition: Condition::None,
            }])
            .await
    }

    /// The recorded totals and unique sets (`KAS#METRICS` items), for tests and operators.
    pub async fn kas_metrics(
        &self,
        key: Key,
    ) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
        Ok(self
            .get_one_item(key)
            .await?
            .map(|item| item.attrs)
            .unwrap_or_default())
    }

    /// Keeps the configuration KAS reports and refreshes the agent's `user_access` grants from
    /// it, as `UserAccess::RefreshService` does: the named projects and groups that exist
    /// under the agent's root namespace (groups only when that root is a group). Round 1 reads
    /// the agent and every named route; round 2 writes. `false` when there is no such agent.
    pub async fn refresh_agent_configuration(
        &self,
        agent_id: i64,
        config: &serde_json::Value,
        user_access: UserAccessRequest,
    ) -> Result<bool, StoreError> {
        let mut wanted = vec![keys::agent(agent_id)];
        wanted.extend(
            user_access
                .project_paths
                .iter()
                .map(|path| keys::route(path)),
        );
        wanted.extend(user_access.group_paths.iter().map(|path| keys::route(path)));
        let found = self.store.get_many(&wanted).await?;
        let Some(agent) = found[0]
            .as_ref()
            .map(Item::decode::<gl_model::Agent>)
            .transpose()?
        else {
            return Ok(false);
        };
        if agent.root_namespace_id.is_none() {
            tracing::warn!(
                agent_id,
                "agent stored without its root namespace (imported before grants were kept); its user_access grants stay empty until it is imported again"
            );
        }
        let routes: Vec<Option<Route>> = found[1..]
            .iter()
            .map(|item| item.as_ref().map(Item::decode::<Route>).transpose())
            .collect::<Result<_, _>>()?;
        let (project_routes, group_routes) = routes.split_at(user_access.project_paths.len());
        let under_root = |route: &Route, source_type: RouteSource| {
            route.source_type == source_type
                && agent.root_namespace_id.is_some()
                && route.namespace_ancestor_ids.last().copied() == agent.root_namespace_id
        };
        let targets = |routes: &[Option<Route>], source_type: RouteSource| {
            let mut targets: Vec<gl_model::GrantTarget> = Vec::new();
            for route in routes.iter().flatten() {
                if under_root(route, source_type)
                    && !targets.iter().any(|t| t.id == route.source_id)
                {
                    targets.push(gl_model::GrantTarget {
                        id: route.source_id,
                        namespace_ancestor_ids: route.namespace_ancestor_ids.clone(),
                    });
                }
            }
            targets
        };
        let grants = gl_model::UserAccessGrants {
            config: user_access.config,
            projects: targets(project_routes, RouteSource::Project),
            // Only group routes carry a chain, so a personal namespace is never a group grant,
            // and a group under the root means the root is a group.
            groups: targets(group_routes, RouteSource::Namespace),
        };
        let record = serde_json::json!({
            "agent_id": agent_id,
            "agent_config": config,
            "user_access": grants,
            "updated_at": gl_model::gitlab_timestamp(chrono::Utc::now()),
        });
        self.store
            .write(vec![WriteOp::Put {
                item: Item::new(keys::agent_configuration(agent_id), &record),
                condition: Condition::None,
            }])
            .await?;
        Ok(true)
    }

    /// Round 1 of `authorize_proxy_user`: the personal access token by digest (when one was
    /// given), the agent, and the agent's `user_access` grants.
    pub async fn proxy_user_credentials(
        &self,
        token_digest: Option<&str>,
        agent_id: i64,
    ) -> Result<
        (
            Option<PersonalAccessToken>,
            Option<gl_model::Agent>,
            gl_model::UserAccessGrants,
        ),
        StoreError,
    > {
        let mut wanted = vec![keys::agent(agent_id), keys::agent_configuration(agent_id)];
        wanted.extend(token_digest.map(keys::personal_access_token_digest));
        let found = self.store.get_many(&wanted).await?;
        let agent = found[0].as_ref().map(Item::decode).transpose()?;
        let grants = match found[1]
            .as_ref()
            .and_then(|item| item.attrs.get("user_access"))
        {
            Some(grants) => serde_json::from_value(grants.clone()).map_err(|err| {
                StoreError::Corrupt(format!("agent {agent_id} user_access: {err}"))
            })?,
            None => gl_model::UserAccessGrants::default(),
        };
        let token = match found.get(2) {
            Some(item) => item.as_ref().map(Item::decode).transpose()?,
            None => None,
        };
        Ok((token, agent, grants))
    }

    /// Round 2 of `authorize_proxy_user`: the user, and their role on each granted project
    /// and group (in the grants' order), memberships inherited down the namespace chain.
    pub async fn proxy_user_roles(
        &self,
        user_id: UserId,
        grants: &gl_model::UserAccessGrants,
    ) -> Result<(Option<User>, Vec<AccessLevel>, Vec<AccessLevel>), StoreError> {
        let mut wanted = vec![keys::user(user_id)];
        let mut spans = Vec::new();
        for project in &grants.projects {
            let start = wanted.len();
            wanted.extend(project_membership_keys(
                project.id,
                &project.namespace_ancestor_ids,
                user_id,
            ));
            spans.push(start..wanted.len());
        }
        for group in &grants.groups {
            let start = wanted.len();
            wanted.extend(
                group
                    .namespace_ancestor_ids
                    .iter()
                    .map(|ancestor| keys::namespace_member(*ancestor, user_id)),
            );
            spans.push(start..wanted.len());
        }
        let found = self.store.get_many(&wanted).await?;
        let user = found[0].as_ref().map(Item::decode).transpose()?;
        let mut roles = Vec::with_capacity(spans.len());
        for span in spans {
            let mut role = AccessLevel::NoAccess;
            for (key, item) in wanted[span.clone()].iter().zip(&found[span]) {
                if let Some(item) = item {
                    role = role.max(membership_level(key, item, user_id)?);
                }
            }
            roles.push(role);
        }
        let group_roles = roles.split_off(grants.projects.len());
        Ok((user, roles, group_roles))
    }

    pub async fn agent_configuration(
        &self,
        agent_id: i64,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(self
            .get_one_item(keys::agent_configuration(agent_id))
            .await?
            .and_then(|item| item.attrs.get("agent_config").cloned()))
    }

    /// Creates or refreshes a Starboard finding under its agent; the UUID is the idempotency key.
    /// The report time decides, against the agent's last scan, whether it is still detected.
    pub async fn put_starboard_finding(
        &self,
        agent_id: i64,
        uuid: &str,
        finding: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let item = Item::new(keys::starboard_finding(agent_id, uuid), finding)
            .with(REPORTED_AT, chrono::Utc::now().timestamp_micros());
        self.store
            .write(vec![WriteOp::Put {
                item,
                condition: Condition::None,
            }])
            .await
    }

    /// Records an agent's `scan_result`: the finding UUIDs (hyphenated, 36 bytes each) it still
    /// sees, replacing the previous scan in
    /// one transaction. Resolution is not written onto each finding (that would need the
    /// findings read first, a third round trip); a finding reported before this scan and absent
    /// from it reads as resolved, which is what GitLab's batch update leaves behind. A finding
    /// reported again afterwards is detected again.
    pub async fn record_starboard_scan(
        &self,
        agent_id: i64,
        uuids: &[String],
    ) -> Result<(), StoreError> {
        let mut kept: Vec<&str> = uuids.iter().map(String::as_str).collect();
        kept.sort_unstable();
        kept.dedup();
        let scanned_at = chrono::Utc::now().timestamp_micros();
        let chunks: Vec<&[&str]> = if kept.is_empty() {
            vec![&[]]
        } else {
            kept.chunks(SCAN_UUIDS_PER_PART).collect()
        };
        let parts = chunks.len();
        let ops = chunks
            .into_iter()
            .enumerate()
            .map(|(part, uuids)| WriteOp::Put {
                item: Item::new(
                    keys::starboard_scan_part(agent_id, part),
                    &serde_json::json!({ "uuids": uuids }),
                )
                .with(SCANNED_AT, scanned_at)
                .with(SCAN_PARTS, parts as i64),
                condition: Condition::None,
            })
            .collect();
        self.store.write(ops).await
    }

    /// Every Starboard finding of an agent with its `state` as of the last scan, all pages.
    pub async fn starboard_findings(
        &self,
        agent_id: i64,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, StoreError> {
        let (findings, scan) = futures_util::future::try_join(
            self.query_all(&keys::agent_partition(agent_id), keys::FINDING_PREFIX),
            self.query_all(&keys::agent_partition(agent_id), keys::SCAN_PREFIX),
        )
        .await?;
        let last_scan = scan.first().map(|first| {
            let scanned_at = first.number(SCANNED_AT).unwrap_or(i64::MIN);
            let parts = first.number(SCAN_PARTS).unwrap_or(1).max(1) as usize;
            // A larger earlier scan may have left parts behind; only this scan's count.
            let kept: std::collections::HashSet<&str> = scan
                .iter()
                .take(parts)
                .filter(|part| part.number(SCANNED_AT) == Some(scanned_at))
                .filter_map(|part| part.attrs.get("uuids").and_then(|u| u.as_array()))
                .flatten()
                .filter_map(|uuid| uuid.as_str())
                .collect();
            (scanned_at, kept)
        });
        Ok(findings
            .into_iter()
            .map(|finding| {
                let uuid = finding.attrs.get("uuid").and_then(|u| u.as_str());
                let resolved = match (&last_scan, uuid) {
                    (Some((scanned_at, kept)), Some(uuid)) => {
                        finding.number(REPORTED_AT).unwrap_or(i64::MIN) < *scanned_at
                            && !kept.contains(uuid)
                    }
                    _ => false,
                };
                let mut attrs = finding.attrs;
                attrs.remove(REPORTED_AT);
                let state = if resolved { "resolved" } else { "detected" };
                attrs.insert("state".to_owned(), state.into());
                attrs
            })
            .collect())
    }

    /// Every item of a partition under a sort-key prefix, following pages.
    async fn query_all(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .query(pk, sk_prefix, after.as_deref(), 500)
                .await?;
            items.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// The scan-execution policies of a project.
    pub async fn scan_execution_policies(
        &self,
        project_id: ProjectId,
    ) -> Result<Vec<gl_model::ScanExecutionPolicy>, StoreError> {
        let item = self
            .get_one_item(keys::project_policies(project_id))
            .await?;
        match item.and_then(|item| item.attrs.get("policies").cloned()) {
            Some(policies) => {
                serde_json::from_value(policies).map_err(|err| StoreError::Corrupt(err.to_string()))
            }
            None => Ok(Vec::new()),
        }
    }

    /// A cluster agent by the digest of its token.
    pub async fn agent_by_token_digest(
        &self,
        digest: &str,
    ) -> Result<Option<gl_model::Agent>, StoreError> {
        self.get_one(keys::agent_token(digest)).await
    }

    /// A personal access token by the digest of its plaintext.
    pub async fn personal_access_token_by_digest(
        &self,
        digest: &str,
    ) -> Result<Option<PersonalAccessToken>, StoreError> {
        self.get_one(keys::personal_access_token_digest(digest))
            .await
    }

    /// A project and its error-tracking client key with this public key, in one round trip.
    pub async fn error_tracking_key(
        &self,
        project_id: ProjectId,
        public_key: &str,
    ) -> Result<(Option<Project>, Option<gl_model::ErrorTrackingClientKey>), StoreError> {
        let found = self
            .store
            .get_many(&[
                keys::project(project_id),
                keys::error_tracking_key(project_id, public_key),
            ])
            .await?;
        Ok((
            found[0].as_ref().map(Item::decode).transpose()?,
            found[1].as_ref().map(Item::decode).transpose()?,
        ))
    }

    /// `Gitlab::ReferenceCounter#increase`: count up and keep the counter alive 600 s more.
    pub async fn increase_reference_counter(&self, gl_repository: &str) -> Result<(), StoreError> {
        let expires = chrono::Utc::now().timestamp() + REFERENCE_COUNTER_TTL_SECONDS;
        self.store
            .write(vec![WriteOp::Update {
                key: keys::reference_counter(gl_repository),
                add: vec![(REFERENCE_COUNT.to_owned(), 1.into())],
                set: vec![(crate::TTL_ATTRIBUTE.to_owned(), expires.into())],
                condition: Condition::None,
            }])
            .await
    }

    /// `Gitlab::ReferenceCounter#decrease`: count down, never below zero (GitLab deletes a
    /// counter that went negative; here the decrement is simply not applied).
    pub async fn decrease_reference_counter(&self, gl_repository: &str) -> Result<(), StoreError> {
        let decrement = WriteOp::Update {
            key: keys::reference_counter(gl_repository),
            add: vec![(REFERENCE_COUNT.to_owned(), (-1).into())],
            set: Vec::new(),
            condition: Condition::NumberAbove(REFERENCE_COUNT, 0),
        };
        match self.store.write(vec![decrement]).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed) => {
                tracing::warn!(
                    gl_repository,
                    "reference counter would go below zero; left at zero"
                );
                Ok(())
            }
            Err(err) => Err(err),
        }
    }

    pub async fn reference_counter(&self, gl_repository: &str) -> Result<i64, StoreError> {
        Ok(self
            .get_one_item(keys::reference_counter(gl_repository))
            .await?
            .and_then(|item| item.number(REFERENCE_COUNT))
            .unwrap_or(0))
    }

    /// Writes a validated seed. Each record goes in one transaction with its lookups, each
    /// conditioned on not existing: a record already present is left as it is (so importing
    /// the same file twice changes nothing), and a lookup taken by another record is a conflict.
    pub async fn import_seed(&self, world: SeedWorld) -> Result<ImportReport, ImportError> {
        let put = |item: Item| WriteOp::Put {
            item,
            condition: Condition::NotExists,
        };
        let mut batches: Vec<(String, Vec<WriteOp>)> = Vec::new();

        for user in &world.users {
            let mut ops = vec![
                put(Item::new(keys::user(user.id), user)),
                put(Item::new(
                    keys::username(&user.username),
                    &UsernameLookup { user_id: user.id },
                )),
            ];
            if let Some(ns) = user.namespace_id {
                let namespace = UserNamespace {
                    id: ns,
                    path: user.username.clone(),
                    user_id: user.id,
                };
                ops.push(put(Item::new(keys::user_namespace(ns), &namespace)));
                ops.push(put(Item::new(
                    keys::route(&user.username),
                    &Route {
                        source_type: RouteSource::Namespace,
                        source_id: ns,
                        namespace_ancestor_ids: Vec::new(),
                    },
                )));
            }
            batches.push((format!("user {}", user.id), ops));
        }
        for group in &world.groups {
            batches.push((
                format!("group {}", group.id),
                vec![
                    put(Item::new(keys::group(group.id), group)),
                    put(Item::new(
                        keys::route(&group.full_path),
                        &Route {
                            source_type: RouteSource::Namespace,
                            source_id: group.id,
                            namespace_ancestor_ids: group.ancestor_ids.clone(),
                        },
                    )),
                ],
            ));
        }
        for (namespace_id, member) in &world.group_members {
            batches.push((
                format!("group {namespace_id} member {}", member.user_id),
                vec![put(Item::new(
                    keys::namespace_member(*namespace_id, member.user_id),
                    member,
                ))],
            ));
        }
        for project in &world.projects {
            batches.push((
                format!("project {}", project.id),
                vec![
                    put(Item::new(keys::project(project.id), project)),
                    put(Item::new(
                        keys::route(&project.full_path),
                        &Route {
                            source_type: RouteSource::Project,
                            source_id: project.id,
                            namespace_ancestor_ids: project.namespace_ancestor_ids.clone(),
                        },
                    )),
                ],
            ));
        }
        for (project_id, member) in &world.project_members {
            batches.push((
                format!("project {project_id} member {}", member.user_id),
                vec![put(Item::new(
                    keys::project_member(*project_id, member.user_id),
                    member,
                ))],
            ));
        }
        for (project_id, policies) in &world.scan_execution_policies {
            batches.push((
                format!("project {project_id} scan execution policies"),
                vec![put(Item::new(
                    keys::project_policies(*project_id),
                    &serde_json::json!({"policies": policies}),
                ))],
            ));
        }
        for (project_id, client_key) in &world.error_tracking_keys {
            batches.push((
                format!("project {project_id} error tracking key"),
                vec![put(Item::new(
                    keys::error_tracking_key(*project_id, &client_key.public_key),
                    client_key,
                ))],
            ));
        }
        for key in &world.keys {
            batches.push((
                format!("key {}", key.id),
                vec![
                    put(Item::new(keys::ssh_key(key.id), key)),
                    put(Item::new(
                        keys::key_fingerprint(&key.fingerprint_sha256),
                        key,
                    )),
                ],
            ));
        }
        for agent in &world.agents {
            batches.push((
                format!("agent {}", agent.id),
                vec![
                    put(Item::new(keys::agent(agent.id), agent)),
                    put(Item::new(keys::agent_token(&agent.token_digest), agent)),
                ],
            ));
        }
        for token in &world.personal_access_tokens {
            batches.push((
                format!("personal access token {}", token.id),
                vec![
                    put(Item::new(keys::personal_access_token(token.id), token)),
                    put(Item::new(
                        keys::personal_access_token_digest(&token.token_digest),
                        token,
                    )),
                ],
            ));
        }
        for (i, token) in world.scim_tokens.iter().enumerate() {
            batches.push((
                format!("scim token {i}"),
                vec![put(Item::new(keys::scim_token(&token.token_digest), token))],
            ));
        }

        // Read every item the import would write before writing any: a record already present
        // is left alone, and a lookup another record holds (a username, a path, a key) is a
        // conflict reported while nothing has been written yet.
        let mut report = ImportReport::default();
        let all_keys: Vec<Key> = batches
            .iter()
            .flat_map(|(_, ops)| ops.iter().map(|op| op.key().clone()))
            .collect();
        let mut existing = std::collections::HashSet::new();
        for chunk in all_keys.chunks(100) {
            for (key, found) in chunk.iter().zip(self.store.get_many(chunk).await?) {
                if found.is_some() {
                    existing.insert(key.clone());
                }
            }
        }
        let mut pending = Vec::new();
        for (record, ops) in batches {
            if existing.contains(ops[0].key()) {
                report.already_present += 1;
            } else if ops[1..].iter().any(|op| existing.contains(op.key())) {
                return Err(ImportError::Conflict { record });
            } else {
                pending.push((record, ops));
            }
        }
        if let Some(settings) = &world.settings {
            let current = self.get_one_item(keys::settings()).await?;
            if current
                .as_ref()
                .map(Item::decode::<Settings>)
                .transpose()?
                .as_ref()
                != Some(settings)
            {
                self.store
                    .write(vec![WriteOp::Put {
                        item: Item::new(keys::settings(), settings),
                        condition: Condition::None,
                    }])
                    .await?;
                report.written += 1;
            } else {
                report.already_present += 1;
            }
        }
        // A concurrent writer can still take a lookup between the read and the write; the
        // conditions catch it, record by record.
        for (record, ops) in pending {
            let primary = ops[0].key().clone();
            match self.store.write(ops).await {
                Ok(()) => report.written += 1,
                Err(StoreError::ConditionFailed) => {
                    if self.get_one_item(primary).await?.is_some() {
                        report.already_present += 1;
                    } else {
                        return Err(ImportError::Conflict { record });
                    }
                }
                Err(err) => return Err(err.into()),
            }
        }
        self.store
            .write(vec![WriteOp::Put {
                item: Item::new(keys::seed_marker(), &serde_json::json!({"seeded": true})),
                condition: Condition::None,
            }])
            .await?;
        Ok(report)
    }

    /// Whether any seed was ever imported: the local server loads its demo world only into a
    /// store that has none.
    pub async fn has_been_seeded(&self) -> Result<bool, StoreError> {
        Ok(self.get_one_item(keys::seed_marker()).await?.is_some())
    }
}
