//! SCIM provisioning: a group's (or the instance's) SAML provider and its SCIM identities.
//! Every request first reads, in one round, what GitLab checks before anything else (the
//! group, its provider, the token) beside what the endpoint needs; users and their lookups are
//! written through the identity part's writes, in the same transaction as the identity.

use std::collections::HashSet;

use gl_model::seed::SeedWorld;
use gl_model::{
    AccessLevel, Member, NamespaceId, ScimIdentity, ScimProvider, ScimScope, ScimToken, User,
    UserId,
};

use super::identity::{self, EmailLookup, IdSequence, sequence_write, user_writes};
use super::seed::SeedRecord;
use super::{Repository, decode, put_new};
use crate::{Condition, Item, Key, StoreError, WriteOp, keys};
use serde::{Deserialize, Serialize};

/// Which SCIM API a request is for: a group's, named by the path in its URL, or the
/// instance's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScimBase {
    Group(String),
    Instance,
}

impl ScimBase {
    fn group_path(&self) -> Option<&str> {
        match self {
            Self::Group(path) => Some(path),
            Self::Instance => None,
        }
    }
}

/// What GitLab checks before a SCIM request's own work, as read.
#[derive(Debug, Clone, Default)]
pub struct ScimAccess {
    /// For a group's API: a group has this path (a user's personal namespace is no group).
    pub group_found: bool,
    /// The group's (or instance's) SAML provider: SCIM is configured.
    pub provider: Option<ScimProvider>,
    /// The SCIM token presented, if it is one.
    pub token: Option<ScimToken>,
}

/// What a create (`POST /Users`) needs besides [`ScimAccess`], read in the same round.
#[derive(Debug, Clone, Default)]
pub struct ProvisioningTarget {
    /// The identity with the requested `extern_uid`, if any.
    pub identity: Option<ScimIdentity>,
    /// The user whose primary email was requested.
    pub user_by_email: Option<ExistingUser>,
    /// Of the candidate usernames asked about, those a user or a namespace path holds
    /// (lower-cased).
    pub taken_usernames: HashSet<String>,
    user_sequence: Option<IdSequence>,
    namespace_sequence: Option<IdSequence>,
}

/// A user found by email, as SCIM shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingUser {
    pub user_id: UserId,
    pub username: String,
    pub name: String,
    pub email: String,
}

/// A new user and the identity that provisions it: ids come from the sequences read.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub name: String,
    pub email: String,
    pub created_at: String,
}

/// A user a list's `userName` filter may mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserLookup {
    Username(String),
    Email(String),
}

/// The item that holds a user's one identity in a partition.
#[derive(Debug, Serialize, Deserialize)]
struct UserIdentity {
    extern_uid: String,
}

fn user_identity_write(base: &ScimBase, identity: &ScimIdentity) -> WriteOp {
    put_new(Item::new(
        keys::scim_user(base.group_path(), identity.user_id),
        &UserIdentity {
            extern_uid: identity.extern_uid.clone(),
        },
    ))
}

/// What happens to the group membership when an identity's state changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// Add the provider's default role unless the user is a member already.
    Ensure,
    /// Remove it.
    Remove,
    Keep,
}

#[derive(Clone, Copy)]
pub struct Scim<'r> {
    pub(super) repo: &'r Repository,
}

impl Scim<'_> {
    /// The keys every request of `base` reads first, then `extra`.
    fn access_keys(base: &ScimBase, token_digest: &str, extra: &[Key]) -> Vec<Key> {
        let mut wanted = vec![
            keys::scim_provider(base.group_path()),
            keys::scim_token(token_digest),
        ];
        if let Some(path) = base.group_path() {
            wanted.push(keys::route(path));
            wanted.push(keys::username(path));
        }
        wanted.extend_from_slice(extra);
        wanted
    }

    /// [`ScimAccess`] from the items of [`Self::access_keys`]; answers the rest (`extra`'s).
    fn access_from(
        base: &ScimBase,
        mut found: Vec<Option<Item>>,
    ) -> Result<(ScimAccess, Vec<Option<Item>>), StoreError> {
        let fixed = if base.group_path().is_some() { 4 } else { 2 };
        let extra = found.split_off(fixed);
        let provider: Option<ScimProvider> = decode(found[0].as_ref())?;
        let token: Option<ScimToken> = decode(found[1].as_ref())?;
        let group_found = match base {
            ScimBase::Group(_) => {
                let route: Option<identity::Route> = decode(found[2].as_ref())?;
                let is_namespace = route.is_some_and(|route| route.project().is_none());
                provider.is_some() || (is_namespace && found[3].is_none())
            }
            ScimBase::Instance => true,
        };
        Ok((
            ScimAccess {
                group_found,
                provider,
                token,
            },
            extra,
        ))
    }

    async fn read(
        self,
        base: &ScimBase,
        token_digest: &str,
        extra: &[Key],
    ) -> Result<(ScimAccess, Vec<Option<Item>>), StoreError> {
        let found = self
            .repo
            .get_many(&Self::access_keys(base, token_digest, extra))
            .await?;
        Self::access_from(base, found)
    }

    /// The checks' reads alone, one read.
    pub async fn access(
        self,
        base: &ScimBase,
        token_digest: &str,
    ) -> Result<ScimAccess, StoreError> {
        Ok(self.read(base, token_digest, &[]).await?.0)
    }

    /// The checks' reads, every identity of `base` in creation order, and the users `lookups`
    /// name (by username or by primary email; `None` where there is none): one round (the
    /// items and the query of the partition go out together).
    pub async fn identities(
        self,
        base: &ScimBase,
        token_digest: &str,
        lookups: &[UserLookup],
    ) -> Result<(ScimAccess, Vec<ScimIdentity>, Vec<Option<UserId>>), StoreError> {
        let partition = keys::scim_partition(base.group_path());
        let wanted: Vec<Key> = lookups
            .iter()
            .map(|lookup| match lookup {
                UserLookup::Username(username) => keys::username(username),
                UserLookup::Email(email) => keys::email(email),
            })
            .collect();
        let (read, identities) = tokio::join!(
            self.read(base, token_digest, &wanted),
            self.repo.query_all(&partition, keys::SCIM_IDENTITY_PREFIX)
        );
        let (access, found) = read?;
        let users = lookups
            .iter()
            .zip(&found)
            .map(|(lookup, item)| {
                Ok(match lookup {
                    UserLookup::Username(_) => {
                        decode::<identity::UsernameLookup>(item.as_ref())?.map(|l| l.user_id)
                    }
                    UserLookup::Email(_) => {
                        decode::<EmailLookup>(item.as_ref())?.map(|l| l.user_id)
                    }
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let mut identities: Vec<ScimIdentity> = identities?
            .iter()
            .map(Item::decode)
            .collect::<Result<_, _>>()?;
        identities
            .sort_by(|a, b| (&a.created_at, &a.extern_uid).cmp(&(&b.created_at, &b.extern_uid)));
        Ok((access, identities, users))
    }

    /// Whether user `user_id` has an identity in `base` (another one, when a link of it was
    /// refused).
    pub async fn user_has_identity(
        self,
        base: &ScimBase,
        user_id: UserId,
    ) -> Result<bool, StoreError> {
        Ok(self
            .repo
            .get_item(keys::scim_user(base.group_path(), user_id))
            .await?
            .is_some())
    }

    /// The checks' reads and the identity `extern_uid` (case-insensitively), in one read.
    pub async fn identity(
        self,
        base: &ScimBase,
        token_digest: &str,
        extern_uid: &str,
    ) -> Result<(ScimAccess, Option<ScimIdentity>), StoreError> {
        let key = keys::scim_identity(base.group_path(), extern_uid);
        let (access, found) = self
            .read(base, token_digest, std::slice::from_ref(&key))
            .await?;
        Ok((access, decode(found[0].as_ref())?))
    }

    /// [`Self::identity`], and the members of group `group_id` (when the caller knows which
    /// group the path names) queried alongside: one round.
    pub async fn identity_and_members(
        self,
        base: &ScimBase,
        token_digest: &str,
        extern_uid: &str,
        group_id: Option<NamespaceId>,
    ) -> Result<(ScimAccess, Option<ScimIdentity>, Option<Vec<Member>>), StoreError> {
        let members = async {
            match group_id {
                Some(id) => self.group_members(id).await.map(Some),
                None => Ok(None),
            }
        };
        let (found, members) = tokio::join!(self.identity(base, token_digest, extern_uid), members);
        let (access, identity) = found?;
        Ok((access, identity, members?))
    }

    /// The checks' reads and what a create decides on, in one read: the identity, the user
    /// with `email`, which `usernames` are taken, and the id sequences.
    pub async fn provisioning_target(
        self,
        base: &ScimBase,
        token_digest: &str,
        extern_uid: &str,
        email: &str,
        usernames: &[String],
    ) -> Result<(ScimAccess, ProvisioningTarget), StoreError> {
        let mut wanted = vec![
            keys::scim_identity(base.group_path(), extern_uid),
            keys::email(email),
            keys::user_sequence(),
            keys::namespace_sequence(),
        ];
        for username in usernames {
            wanted.push(keys::username(username));
            wanted.push(keys::route(username));
        }
        let (access, found) = self.read(base, token_digest, &wanted).await?;
        let by_email: Option<EmailLookup> = decode(found[1].as_ref())?;
        let taken_usernames = usernames
            .iter()
            .zip(found[4..].chunks(2))
            .filter(|(_, items)| items.iter().any(Option::is_some))
            .map(|(username, _)| username.to_lowercase())
            .collect();
        Ok((
            access,
            ProvisioningTarget {
                identity: decode(found[0].as_ref())?,
                user_by_email: by_email.map(|user| ExistingUser {
                    user_id: user.user_id,
                    username: user.username,
                    name: user.name,
                    email: user.email,
                }),
                taken_usernames,
                user_sequence: decode(found[2].as_ref())?,
                namespace_sequence: decode(found[3].as_ref())?,
            },
        ))
    }

    /// The members of group `group_id` (for the last-owner check), one query.
    pub async fn group_members(self, group_id: NamespaceId) -> Result<Vec<Member>, StoreError> {
        self.repo
            .query_all(&keys::namespace_partition(group_id), keys::MEMBER_PREFIX)
            .await?
            .iter()
            .map(Item::decode)
            .collect()
    }

    /// The membership write a provider's identity change makes, if any.
    fn membership_write(
        provider: &ScimProvider,
        user_id: UserId,
        membership: Membership,
    ) -> Option<WriteOp> {
        let group_id = provider.group_id()?;
        let key = keys::namespace_member(group_id, user_id);
        match membership {
            Membership::Keep => None,
            Membership::Remove => Some(WriteOp::Delete {
                key,
                condition: Condition::None,
            }),
            Membership::Ensure => Some(WriteOp::Update {
                key,
                add: Vec::new(),
                set: Vec::new(),
                set_if_absent: vec![
                    ("user_id".to_owned(), user_id.into()),
                    (
                        "access_level".to_owned(),
                        i64::from(provider.default_membership_role).into(),
                    ),
                ],
                condition: Condition::None,
            }),
        }
    }

    /// Creates a user (ids from the sequences `target` read), its identity and its group
    /// membership, in one transaction; `ConditionFailed` when the username, email, path,
    /// `extern_uid` or an id was taken since the read (nothing is written; read again).
    pub async fn provision_new_user(
        self,
        base: &ScimBase,
        provider: &ScimProvider,
        target: &ProvisioningTarget,
        extern_uid: &str,
        user: &NewUser,
    ) -> Result<ScimIdentity, StoreError> {
        let user_id = target.user_sequence.unwrap_or_default().last_id + 1;
        let namespace_id = target.namespace_sequence.unwrap_or_default().last_id + 1;
        let record = User {
            id: user_id,
            username: user.username.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            admin: false,
            state: gl_model::UserState::Active,
            two_factor_enabled: false,
            namespace_id: Some(namespace_id),
            created_at: user.created_at.clone(),
        };
        let identity = ScimIdentity {
            extern_uid: extern_uid.to_owned(),
            user_id,
            active: true,
            username: user.username.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            created_at: user.created_at.clone(),
            version: 1,
        };
        let mut ops = user_writes(&record);
        ops.push(sequence_write(
            keys::user_sequence(),
            target.user_sequence,
            user_id,
        ));
        ops.push(sequence_write(
            keys::namespace_sequence(),
            target.namespace_sequence,
            namespace_id,
        ));
        ops.push(put_new(Item::new(
            keys::scim_identity(base.group_path(), extern_uid),
            &identity,
        )));
        ops.push(user_identity_write(base, &identity));
        ops.extend(Self::membership_write(
            provider,
            user_id,
            Membership::Ensure,
        ));
        self.repo.write(ops).await?;
        Ok(identity)
    }

    /// Stores a new identity for an existing user, with its membership ensured; one
    /// transaction. `ConditionFailed` when the `extern_uid` was taken since the read, or the
    /// user has an identity here already.
    pub async fn link_identity(
        self,
        base: &ScimBase,
        provider: &ScimProvider,
        identity: &ScimIdentity,
    ) -> Result<(), StoreError> {
        let mut ops = vec![
            put_new(Item::new(
                keys::scim_identity(base.group_path(), &identity.extern_uid),
                identity,
            )),
            user_identity_write(base, identity),
        ];
        ops.extend(Self::membership_write(
            provider,
            identity.user_id,
            Membership::Ensure,
        ));
        self.repo.write(ops).await
    }

    /// Replaces an identity read at version `identity.version - 1` (its `extern_uid` may have
    /// changed: `old_extern_uid` names where it was), with the membership and, for the
    /// instance, the user's block state changed alongside; one transaction. `ConditionFailed`
    /// when someone changed the identity since, or the new `extern_uid` is taken.
    pub async fn update_identity(
        self,
        base: &ScimBase,
        provider: &ScimProvider,
        old_extern_uid: &str,
        identity: &ScimIdentity,
        membership: Membership,
        blocked: Option<bool>,
    ) -> Result<(), StoreError> {
        let old_key = keys::scim_identity(base.group_path(), old_extern_uid);
        let new_key = keys::scim_identity(base.group_path(), &identity.extern_uid);
        let read_version = Condition::VersionEquals(identity.version - 1);
        let mut ops = if old_key == new_key {
            vec![WriteOp::Put {
                item: Item::new(new_key, identity),
                condition: read_version,
            }]
        } else {
            vec![
                WriteOp::Delete {
                    key: old_key,
                    condition: read_version,
                },
                put_new(Item::new(new_key, identity)),
                WriteOp::Put {
                    item: Item::new(
                        keys::scim_user(base.group_path(), identity.user_id),
                        &UserIdentity {
                            extern_uid: identity.extern_uid.clone(),
                        },
                    ),
                    condition: Condition::None,
                },
            ]
        };
        ops.extend(Self::membership_write(
            provider,
            identity.user_id,
            membership,
        ));
        if let Some(blocked) = blocked {
            let state = if blocked {
                gl_model::UserState::Blocked
            } else {
                gl_model::UserState::Active
            };
            ops.push(WriteOp::Update {
                key: keys::user(identity.user_id),
                add: Vec::new(),
                set: vec![(
                    "state".to_owned(),
                    serde_json::to_value(state).map_err(|e| StoreError::Other(e.to_string()))?,
                )],
                set_if_absent: Vec::new(),
                condition: Condition::Exists,
            });
        }
        self.repo.write(ops).await
    }
}

/// This part's records of a seed: each SCIM token's group (or the instance) gets its SAML
/// provider, with the group's default membership role.
pub(crate) fn seed_records(world: &SeedWorld) -> Vec<SeedRecord> {
    world
        .scim_tokens
        .iter()
        .filter_map(|token| {
            let (path, provider) = match token.scope {
                ScimScope::Group { group_id } => {
                    let group = world.groups.iter().find(|group| group.id == group_id)?;
                    (
                        Some(group.full_path.as_str()),
                        ScimProvider {
                            scope: token.scope.clone(),
                            group_name: group.name.clone(),
                            default_membership_role: group.default_membership_role,
                        },
                    )
                }
                ScimScope::Instance => (
                    None,
                    ScimProvider {
                        scope: ScimScope::Instance,
                        group_name: String::new(),
                        default_membership_role: AccessLevel::Guest,
                    },
                ),
            };
            Some(SeedRecord::new(
                format!("SCIM provider of {}", path.unwrap_or("the instance")),
                vec![put_new(Item::new(keys::scim_provider(path), &provider))],
            ))
        })
        .collect()
}
