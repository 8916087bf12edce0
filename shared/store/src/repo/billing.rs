//! CustomersDot's and the GitLab.com Admin Area's records: the storage limit exclusions
//! (`Namespaces::Storage::LimitExclusion`): one per root namespace, listed in id order, ids
//! from a sequence that never hands one out twice (as Postgres' does not); and namespaces'
//! GitLab subscriptions (`GitlabSubscription`), one per namespace, versioned.

use gl_model::{
    AccessLevel, GitlabSubscription, Member, Namespace, NamespaceId, StorageLimitExclusion, UserId,
};
use serde::{Deserialize, Serialize};

use super::identity;
use super::{Repository, decode, put_new};
use crate::{Condition, Item, StoreError, VERSION_ATTRIBUTE, WriteOp, keys};

/// The exclusion id sequence: the last id handed out, also its version.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct ExclusionSequence {
    last_id: i64,
}

/// What a write to a namespace's storage limit exclusion needs, read in one round: the
/// namespace, its exclusion, and where the id sequence stands.
#[derive(Debug, Clone)]
pub struct ExclusionTarget {
    pub namespace: Option<Namespace>,
    pub exclusion: Option<StorageLimitExclusion>,
    last_id: i64,
}

/// What a subscription endpoint needs, read in one round: the namespace, its subscription,
/// and how many billable members it has as far as the store can tell.
#[derive(Debug, Clone)]
pub struct SubscriptionTarget {
    pub namespace: Option<Namespace>,
    pub subscription: Option<GitlabSubscription>,
    /// `Namespace#billable_members_count`, approximated: a personal namespace's user (1), or
    /// a group's direct memberships, whatever their access level. GitLab also counts the
    /// members of subgroups and projects and leaves out bots, blocked users and (for
    /// Ultimate) guests; the store keeps no index that would answer that in one round.
    pub billable_members: i64,
    /// Who can administer the namespace: a personal namespace's user, a group's direct
    /// Owners (owners inherited from ancestor groups are not read).
    pub owners: Vec<UserId>,
}

#[derive(Clone, Copy)]
pub struct Billing<'r> {
    pub(super) repo: &'r Repository,
}

impl Billing<'_> {
    /// Every exclusion in id order (`LimitExclusion.all`, which GitLab paginates by id), one
    /// query (more than one page of the store only past 500 exclusions).
    pub async fn storage_limit_exclusions(self) -> Result<Vec<StorageLimitExclusion>, StoreError> {
        self.repo
            .query_all(keys::STORAGE_EXCLUSIONS_PARTITION, keys::EXCLUSION_PREFIX)
            .await?
            .iter()
            .map(Item::decode)
            .collect()
    }

    /// Namespace `id` (a group or a personal namespace, see
    /// [`Identity::namespace_id`](super::Identity::namespace_id)), with its exclusion and the
    /// id sequence, in one round trip.
    pub async fn storage_limit_exclusion_target(
        self,
        id: Option<NamespaceId>,
    ) -> Result<ExclusionTarget, StoreError> {
        let Some(id) = id else {
            return Ok(ExclusionTarget {
                namespace: None,
                exclusion: None,
                last_id: 0,
            });
        };
        let [group, user_namespace] = identity::namespace_keys(id);
        let found = self
            .repo
            .get_many(&[
                group,
                user_namespace,
                keys::namespace_storage_limit_exclusion(id),
                keys::storage_limit_exclusion_sequence(),
            ])
            .await?;
        let sequence: Option<ExclusionSequence> = decode(found[3].as_ref())?;
        Ok(ExclusionTarget {
            namespace: identity::namespace_from(found[0].as_ref(), found[1].as_ref())?,
            exclusion: decode(found[2].as_ref())?,
            last_id: sequence.map_or(0, |s| s.last_id),
        })
    }

    /// Excludes `namespace` with the next id, in one transaction: the sequence moves on only
    /// if no one else took the id since `target` was read, and the namespace gets its only
    /// exclusion. `ConditionFailed` when either lost a race: read the target again.
    pub async fn create_storage_limit_exclusion(
        self,
        target: &ExclusionTarget,
        namespace: &Namespace,
        reason: &str,
    ) -> Result<StorageLimitExclusion, StoreError> {
        let id = target.last_id + 1;
        let exclusion = StorageLimitExclusion {
            id,
            namespace_id: namespace.id,
            namespace_name: namespace.name.clone(),
            reason: reason.to_owned(),
        };
        let sequence_condition = if target.last_id == 0 {
            Condition::NotExists
        } else {
            Condition::VersionEquals(target.last_id)
        };
        self.repo
            .write(vec![
                WriteOp::Put {
                    item: Item::new(
                        keys::storage_limit_exclusion_sequence(),
                        &ExclusionSequence { last_id: id },
                    )
                    .with(VERSION_ATTRIBUTE, id),
                    condition: sequence_condition,
                },
                put_new(Item::new(keys::storage_limit_exclusion(id), &exclusion)),
                put_new(Item::new(
                    keys::namespace_storage_limit_exclusion(namespace.id),
                    &exclusion,
                )),
            ])
            .await?;
        Ok(exclusion)
    }

    /// Removes an exclusion and its namespace's marker in one transaction; `ConditionFailed`
    /// when someone removed it first.
    pub async fn delete_storage_limit_exclusion(
        self,
        exclusion: &StorageLimitExclusion,
    ) -> Result<(), StoreError> {
        self.repo
            .write(vec![
                WriteOp::Delete {
                    key: keys::namespace_storage_limit_exclusion(exclusion.namespace_id),
                    condition: Condition::Exists,
                },
                WriteOp::Delete {
                    key: keys::storage_limit_exclusion(exclusion.id),
                    condition: Condition::Exists,
                },
            ])
            .await
    }

    /// Namespace `id` with its subscription and billable member count, in one round trip
    /// (a read of the items and a query of the namespace's memberships, issued together).
    pub async fn subscription_target(
        self,
        id: Option<NamespaceId>,
    ) -> Result<SubscriptionTarget, StoreError> {
        let Some(id) = id else {
            return Ok(SubscriptionTarget {
                namespace: None,
                subscription: None,
                billable_members: 0,
                owners: Vec::new(),
            });
        };
        let [group, user_namespace] = identity::namespace_keys(id);
        let partition = keys::namespace_partition(id);
        let wanted = [group, user_namespace, keys::gitlab_subscription(id)];
        let (found, members) = tokio::join!(
            self.repo.get_many(&wanted),
            self.repo.query_all(&partition, keys::MEMBER_PREFIX)
        );
        let (found, members) = (found?, members?);
        let personal: Option<identity::UserNamespace> = if found[0].is_none() {
            decode(found[1].as_ref())?
        } else {
            None
        };
        let members: Vec<Member> = members.iter().map(Item::decode).collect::<Result<_, _>>()?;
        let (billable_members, owners) = match personal {
            Some(namespace) => (1, vec![namespace.user_id]),
            None => (
                members.len() as i64,
                members
                    .iter()
                    .filter(|member| member.access_level == AccessLevel::Owner)
                    .map(|member| member.user_id)
                    .collect(),
            ),
        };
        Ok(SubscriptionTarget {
            namespace: identity::namespace_from(found[0].as_ref(), found[1].as_ref())?,
            subscription: decode(found[2].as_ref())?,
            billable_members,
            owners,
        })
    }

    /// Stores a namespace's first subscription; `ConditionFailed` when it already has one.
    pub async fn create_subscription(
        self,
        subscription: &GitlabSubscription,
    ) -> Result<(), StoreError> {
        self.repo
            .write(vec![put_new(Item::new(
                keys::gitlab_subscription(subscription.namespace_id),
                subscription,
            ))])
            .await
    }

    /// Replaces a subscription read at version `subscription.version - 1`;
    /// `ConditionFailed` when someone wrote it since (read it again and reapply).
    pub async fn update_subscription(
        self,
        subscription: &GitlabSubscription,
    ) -> Result<(), StoreError> {
        self.repo
            .write(vec![WriteOp::Put {
                item: Item::new(
                    keys::gitlab_subscription(subscription.namespace_id),
                    subscription,
                ),
                condition: Condition::VersionEquals(subscription.version - 1),
            }])
            .await
    }
}
