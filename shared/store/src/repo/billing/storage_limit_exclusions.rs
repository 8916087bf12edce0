//! The GitLab.com Admin Area's storage limit exclusions (`Namespaces::Storage::LimitExclusion`):
//! one per root namespace, listed in id order, ids from a sequence that never hands one out
//! twice (as Postgres' does not).

use gl_model::{Namespace, NamespaceId, StorageLimitExclusion};
use serde::{Deserialize, Serialize};

use super::Billing;
use crate::repo::identity;
use crate::repo::{decode, put_new};
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
}
