//! SCIM provisioning: a group's (or the instance's) SAML provider and its SCIM identities.
//! Every request first reads, in one round, what GitLab checks before anything else (the
//! group, its provider, the token) beside what the endpoint needs; users and their lookups are
//! written through the identity part's writes, in the same transaction as the identity.

use std::collections::HashSet;

use gl_model::{Member, NamespaceId, ScimIdentity, ScimProvider, ScimToken, UserId};

use super::identity::{self, EmailLookup, IdSequence};
use super::{Repository, decode};
use crate::{Item, Key, StoreError, keys};

mod writes;

pub(crate) use writes::seed_records;

/// Which SCIM API a request is for: a group's, named by the path in its URL, or the
/// instance's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScimBase {
    Group(String),
    Instance,
}

impl ScimBase {
    pub(super) fn group_path(&self) -> Option<&str> {
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

/// What happens to the group membership when an identity's state changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// Add the provider's default role unless the user is a member already.
    Ensure,
    /// Remove it. A removed Owner names another Owner (`keeping_owner`) whose membership the
    /// removal requires to still exist: two Owners deprovisioned at once each read the other
    /// as staying, and without the check both would leave the group with none.
    Remove {
        keeping_owner: Option<UserId>,
    },
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
}
