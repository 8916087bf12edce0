//! CustomersDot's and the GitLab.com Admin Area's records, per namespace: the GitLab
//! subscription (`GitlabSubscription`, one per namespace, versioned), add-on purchases,
//! compute minute packs, upcoming reconciliations, and storage limit exclusions. Each read
//! finds the namespace (a group or a personal namespace, see
//! [`Identity::namespace_id`](super::Identity::namespace_id)) beside the records it needs,
//! in one round trip.

use gl_model::{AccessLevel, GitlabSubscription, Member, Namespace, NamespaceId, UserId};

use super::identity;
use super::{Repository, decode, put_new};
use crate::{Condition, Item, Key, StoreError, WriteOp, keys};

mod add_on_purchases;
mod minutes;
mod reconciliations;
mod storage_limit_exclusions;

pub use add_on_purchases::AddOnPurchaseTarget;
pub use minutes::{MAX_PACKS_PER_CREATE, MAX_PACKS_PER_MOVE, MinutesMove, PacksTarget};
pub use storage_limit_exclusions::ExclusionTarget;

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
    /// Namespace `id` and the items at `wanted`, in one read.
    async fn namespace_with(
        self,
        id: NamespaceId,
        wanted: &[Key],
    ) -> Result<(Option<Namespace>, Vec<Option<Item>>), StoreError> {
        let mut keys = identity::namespace_keys(id).to_vec();
        keys.extend_from_slice(wanted);
        let mut found = self.repo.get_many(&keys).await?;
        let rest = found.split_off(2);
        let namespace = identity::namespace_from(found[0].as_ref(), found[1].as_ref())?;
        Ok((namespace, rest))
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
