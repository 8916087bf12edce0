//! Upcoming reconciliations (`GitlabSubscriptions::UpcomingReconciliation`): one per
//! namespace, upserted in bulk by CustomersDot.

use std::collections::HashSet;

use gl_model::{NamespaceId, UpcomingReconciliation};

use super::Billing;
use crate::repo::{identity, put};
use crate::{Condition, Item, MAX_WRITE_ITEMS, StoreError, WriteOp, keys};

impl Billing<'_> {
    /// Which of `ids` name a namespace (a group or a personal namespace), in one read.
    pub async fn existing_namespaces(
        self,
        ids: &[NamespaceId],
    ) -> Result<HashSet<NamespaceId>, StoreError> {
        let ids: Vec<NamespaceId> = ids
            .iter()
            .copied()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let wanted: Vec<_> = ids
            .iter()
            .flat_map(|id| identity::namespace_keys(*id))
            .collect();
        let found = self.repo.get_many(&wanted).await?;
        Ok(ids
            .iter()
            .zip(found.chunks(2))
            .filter(|(_, items)| items.iter().any(Option::is_some))
            .map(|(id, _)| *id)
            .collect())
    }

    /// Stores each reconciliation over its namespace's last one (`bulk_upsert!` by
    /// `namespace_id`; one per namespace in `reconciliations`). Up to [`MAX_WRITE_ITEMS`] are
    /// one transaction; a longer list is written in transactions of that many, issued
    /// together: each upsert is idempotent, so a retry after a failure completes the list.
    pub async fn upsert_upcoming_reconciliations(
        self,
        reconciliations: &[UpcomingReconciliation],
    ) -> Result<(), StoreError> {
        let writes = reconciliations.chunks(MAX_WRITE_ITEMS).map(|chunk| {
            let ops = chunk
                .iter()
                .map(|reconciliation| {
                    put(Item::new(
                        keys::upcoming_reconciliation(reconciliation.namespace_id),
                        reconciliation,
                    ))
                })
                .collect();
            self.repo.write(ops)
        });
        for written in futures_util::future::join_all(writes).await {
            written?;
        }
        Ok(())
    }

    /// Removes a namespace's upcoming reconciliation: `false` when it had none.
    pub async fn delete_upcoming_reconciliation(
        self,
        namespace_id: NamespaceId,
    ) -> Result<bool, StoreError> {
        match self
            .repo
            .write(vec![WriteOp::Delete {
                key: keys::upcoming_reconciliation(namespace_id),
                condition: Condition::Exists,
            }])
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(err) => Err(err),
        }
    }
}
