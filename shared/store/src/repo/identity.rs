//! Who and what: users, SSH keys, agents and their tokens, personal access and SCIM tokens,
//! namespaces, projects, routes, memberships and the instance settings. This is the only part
//! that writes lookup items (usernames, fingerprints, routes, token digests): whoever creates
//! a user or a project (the seed import, SCIM) writes it through here, with its lookups, in
//! one transaction.

use gl_model::seed::SeedWorld;
use gl_model::{
    AccessLevel, Agent, Group, Member, NamespaceId, PersonalAccessToken, Project, ProjectId,
    ScimToken, Settings, SshKey, User, UserId,
};
use serde::{Deserialize, Serialize};

mod namespaces;
mod users;

pub use namespaces::NamespaceRef;
pub(crate) use namespaces::{namespace_from, namespace_id_by_path, namespace_keys};
pub(crate) use users::{EmailLookup, IdSequence, sequence_write, user_writes};

use super::seed::SeedRecord;
use super::{Repository, decode, put_new};
use crate::{Item, Key, StoreError, WriteOp, keys};

/// `ROUTE#...` items: GitLab's `routes` table, one full path to one namespace or project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Route {
    pub source_type: RouteSource,
    pub source_id: i64,
    /// For projects the namespace chain, for groups the group and its ancestors (empty for a
    /// personal namespace): memberships can then be read in the same round trip as the record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_ancestor_ids: Vec<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum RouteSource {
    Namespace,
    Project,
}

impl Route {
    /// The project this route names, with its namespace chain; `None` for a namespace.
    pub(crate) fn project(self) -> Option<(ProjectId, Vec<i64>)> {
        (self.source_type == RouteSource::Project)
            .then_some((self.source_id, self.namespace_ancestor_ids))
    }
}

/// `USERNAME#...` items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UsernameLookup {
    pub user_id: UserId,
}

/// A user's personal namespace (`NAMESPACE#<id>` / `USERNS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UserNamespace {
    pub id: i64,
    pub path: String,
    pub user_id: UserId,
    /// The namespace's `name`, its user's name (absent from items written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// How a request names its actor, as `GitAccessActor.from_params` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorQuery {
    KeyId(i64),
    UserId(UserId),
    Username(String),
    /// `identifier: key-<id>`: `Gitlab::Identifier#identify` answers the key's user only, so
    /// the request acts as that user, not as the key.
    KeyOwner(i64),
    Nobody,
}

impl ActorQuery {
    /// The item round 1 reads for this actor.
    pub(crate) fn key(&self) -> Option<Key> {
        match self {
            Self::KeyId(id) | Self::KeyOwner(id) => Some(keys::ssh_key(*id)),
            Self::UserId(id) => Some(keys::user(*id)),
            Self::Username(name) => Some(keys::username(name)),
            Self::Nobody => None,
        }
    }

    /// What round 1 found for this actor.
    pub(crate) fn resolve(&self, item: Option<&Item>) -> Result<FoundActor, StoreError> {
        let nobody = FoundActor::default();
        let Some(item) = item else {
            return Ok(nobody);
        };
        Ok(match self {
            Self::KeyId(_) | Self::KeyOwner(_) => {
                let key: SshKey = item.decode()?;
                if !key.usage_type.authenticates() {
                    return Ok(nobody);
                }
                FoundActor {
                    user_id: key.user_id,
                    key: matches!(self, Self::KeyId(_)).then_some(key),
                    user: None,
                }
            }
            Self::UserId(_) => {
                let user: User = item.decode()?;
                FoundActor {
                    key: None,
                    user_id: Some(user.id),
                    user: Some(user),
                }
            }
            Self::Username(_) => FoundActor {
                user_id: Some(item.decode::<UsernameLookup>()?.user_id),
                ..nobody
            },
            Self::Nobody => nobody,
        })
    }
}

/// What round 1 found of an actor: the acting key (authentication-capable keys only; a
/// signing-only key names nobody), the user when the item was the user itself, and the id of
/// the user to read (or already read).
#[derive(Debug, Default)]
pub(crate) struct FoundActor {
    pub key: Option<SshKey>,
    pub user: Option<User>,
    pub user_id: Option<UserId>,
}

/// The actor a request names: a key (user or deploy key) and/or a user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolvedActor {
    pub key: Option<SshKey>,
    pub user: Option<User>,
}

/// The role a membership item gives `user_id`: a member's level, or Owner for the owner of a
/// personal namespace (GitLab's project authorizations count the namespace owner as Owner).
pub(crate) fn membership_level(
    key: &Key,
    item: &Item,
    user_id: UserId,
) -> Result<AccessLevel, StoreError> {
    if keys::is_user_namespace(key) {
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
pub(crate) fn project_membership_keys(
    project_id: ProjectId,
    ancestors: &[i64],
    user_id: UserId,
) -> Vec<Key> {
    let mut found = vec![keys::project_member(project_id, user_id)];
    found.extend(group_membership_keys(ancestors, user_id));
    if let Some(namespace) = ancestors.first() {
        found.push(keys::user_namespace(*namespace));
    }
    found
}

/// The membership items of a namespace chain.
pub(crate) fn group_membership_keys(
    ancestors: &[NamespaceId],
    user_id: UserId,
) -> impl Iterator<Item = Key> + '_ {
    ancestors
        .iter()
        .map(move |ancestor| keys::namespace_member(*ancestor, user_id))
}

/// The highest role the found membership items give.
pub(crate) fn highest_role(
    wanted: &[Key],
    found: &[Option<Item>],
    user_id: UserId,
) -> Result<AccessLevel, StoreError> {
    let mut role = AccessLevel::NoAccess;
    for (key, item) in wanted.iter().zip(found) {
        if let Some(item) = item {
            role = role.max(membership_level(key, item, user_id)?);
        }
    }
    Ok(role)
}

/// The instance settings as found (defaults when never set).
pub(crate) fn settings_from(item: Option<&Item>) -> Result<Settings, StoreError> {
    Ok(decode(item)?.unwrap_or_default())
}

#[derive(Clone, Copy)]
pub struct Identity<'r> {
    pub(super) repo: &'r Repository,
}

impl Identity<'_> {
    /// The instance settings: cached in process for a short time (no round trip then).
    pub async fn settings(self) -> Result<Settings, StoreError> {
        Ok(self.repo.get_many_with_settings(&[]).await?.1)
    }

    /// The namespace id an `:id` path parameter names, as GitLab's `find_namespace` reads it:
    /// by id without a read, by (URL-decoded) full path one read of its route (a project's
    /// route names none); anything else names nothing.
    pub async fn namespace_id(self, id: &str) -> Result<Option<NamespaceId>, StoreError> {
        match NamespaceRef::parse(id) {
            Some(NamespaceRef::Id(id)) => Ok(Some(id)),
            Some(NamespaceRef::FullPath(path)) => namespace_id_by_path(self.repo, &path).await,
            None => Ok(None),
        }
    }

    /// A personal access token by the digest of its plaintext, and the instance settings, in
    /// one round trip: what an admin endpoint needs before it knows who is calling.
    pub async fn personal_access_token_with_settings(
        self,
        digest: &str,
    ) -> Result<(Option<PersonalAccessToken>, Settings), StoreError> {
        let (found, settings) = self
            .repo
            .get_many_with_settings(&[keys::personal_access_token_digest(digest)])
            .await?;
        Ok((decode(found[0].as_ref())?, settings))
    }

    /// The authentication-capable key with this SHA-256 fingerprint, and the instance settings
    /// (for the publishable key's host), in one round trip.
    pub async fn authorized_key(
        self,
        fingerprint_sha256: &str,
    ) -> Result<(Option<SshKey>, Settings), StoreError> {
        let (found, settings) = self
            .repo
            .get_many_with_settings(&[keys::key_fingerprint(fingerprint_sha256)])
            .await?;
        let key: Option<SshKey> = decode(found[0].as_ref())?;
        Ok((key.filter(|k| k.usage_type.authenticates()), settings))
    }

    pub async fn user_by_id(self, id: UserId) -> Result<Option<User>, StoreError> {
        self.repo.get(keys::user(id)).await
    }

    /// The actor a request names, in at most two round trips: the key, user or username
    /// item, then the user it points to.
    pub async fn actor(self, query: &ActorQuery) -> Result<ResolvedActor, StoreError> {
        let Some(key) = query.key() else {
            return Ok(ResolvedActor::default());
        };
        let item = self.repo.get_item(key).await?;
        let FoundActor { key, user, user_id } = query.resolve(item.as_ref())?;
        let user = match (user, user_id) {
            (Some(user), _) => Some(user),
            (None, Some(id)) => self.user_by_id(id).await?,
            (None, None) => None,
        };
        Ok(ResolvedActor { key, user })
    }

    /// A project by id and the settings, in one round trip.
    pub async fn project_with_settings(
        self,
        id: ProjectId,
    ) -> Result<(Option<Project>, Settings), StoreError> {
        let (found, settings) = self
            .repo
            .get_many_with_settings(&[keys::project(id)])
            .await?;
        Ok((decode(found[0].as_ref())?, settings))
    }

    /// A personal access token by the digest of its plaintext.
    pub async fn personal_access_token_by_digest(
        self,
        digest: &str,
    ) -> Result<Option<PersonalAccessToken>, StoreError> {
        self.repo
            .get(keys::personal_access_token_digest(digest))
            .await
    }

    /// Stores a new personal access token with its digest lookup, both or neither; an id or
    /// digest already taken is a `ConditionFailed`.
    pub async fn create_personal_access_token(
        self,
        token: &PersonalAccessToken,
    ) -> Result<(), StoreError> {
        self.repo.write(personal_access_token_writes(token)).await
    }

    /// A cluster agent by the digest of its token.
    pub async fn agent_by_token_digest(self, digest: &str) -> Result<Option<Agent>, StoreError> {
        self.repo.get(keys::agent_token(digest)).await
    }
}

pub(crate) fn route_write(full_path: &str, route: &Route) -> WriteOp {
    put_new(Item::new(keys::route(full_path), route))
}

fn group_writes(group: &Group) -> Vec<WriteOp> {
    vec![
        put_new(Item::new(keys::group(group.id), group)),
        route_write(
            &group.full_path,
            &Route {
                source_type: RouteSource::Namespace,
                source_id: group.id,
                namespace_ancestor_ids: group.ancestor_ids.clone(),
            },
        ),
    ]
}

fn project_writes(project: &Project) -> Vec<WriteOp> {
    vec![
        put_new(Item::new(keys::project(project.id), project)),
        route_write(
            &project.full_path,
            &Route {
                source_type: RouteSource::Project,
                source_id: project.id,
                namespace_ancestor_ids: project.namespace_ancestor_ids.clone(),
            },
        ),
    ]
}

fn ssh_key_writes(key: &SshKey) -> Vec<WriteOp> {
    vec![
        put_new(Item::new(keys::ssh_key(key.id), key)),
        put_new(Item::new(
            keys::key_fingerprint(&key.fingerprint_sha256),
            key,
        )),
    ]
}

fn agent_writes(agent: &Agent) -> Vec<WriteOp> {
    vec![
        put_new(Item::new(keys::agent(agent.id), agent)),
        put_new(Item::new(keys::agent_token(&agent.token_digest), agent)),
    ]
}

fn personal_access_token_writes(token: &PersonalAccessToken) -> Vec<WriteOp> {
    vec![
        put_new(Item::new(keys::personal_access_token(token.id), token)),
        put_new(Item::new(
            keys::personal_access_token_digest(&token.token_digest),
            token,
        )),
    ]
}

fn scim_token_writes(token: &ScimToken) -> Vec<WriteOp> {
    vec![put_new(Item::new(
        keys::scim_token(&token.token_digest),
        token,
    ))]
}

/// This part's records of a seed, first half: users, namespaces, projects and memberships.
pub(crate) fn namespace_seed_records(world: &SeedWorld) -> Vec<SeedRecord> {
    let mut records = Vec::new();
    for user in &world.users {
        records.push(SeedRecord::new(
            format!("user {}", user.id),
            user_writes(user),
        ));
    }
    records.push(users::sequences_seed_record(world));
    for group in &world.groups {
        records.push(SeedRecord::new(
            format!("group {}", group.id),
            group_writes(group),
        ));
    }
    for (namespace_id, member) in &world.group_members {
        records.push(SeedRecord::new(
            format!("group {namespace_id} member {}", member.user_id),
            vec![put_new(Item::new(
                keys::namespace_member(*namespace_id, member.user_id),
                member,
            ))],
        ));
    }
    for project in &world.projects {
        records.push(SeedRecord::new(
            format!("project {}", project.id),
            project_writes(project),
        ));
    }
    for (project_id, member) in &world.project_members {
        records.push(SeedRecord::new(
            format!("project {project_id} member {}", member.user_id),
            vec![put_new(Item::new(
                keys::project_member(*project_id, member.user_id),
                member,
            ))],
        ));
    }
    records
}

/// This part's records of a seed, second half: keys, agents and tokens.
pub(crate) fn credential_seed_records(world: &SeedWorld) -> Vec<SeedRecord> {
    let mut records = Vec::new();
    for key in &world.keys {
        records.push(SeedRecord::new(
            format!("key {}", key.id),
            ssh_key_writes(key),
        ));
    }
    for agent in &world.agents {
        records.push(SeedRecord::new(
            format!("agent {}", agent.id),
            agent_writes(agent),
        ));
    }
    for token in &world.personal_access_tokens {
        records.push(SeedRecord::new(
            format!("personal access token {}", token.id),
            personal_access_token_writes(token),
        ));
    }
    for (i, token) in world.scim_tokens.iter().enumerate() {
        records.push(SeedRecord::new(
            format!("scim token {i}"),
            scim_token_writes(token),
        ));
    }
    records
}
