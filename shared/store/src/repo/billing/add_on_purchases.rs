//! Add-on purchases (`GitlabSubscriptions::AddOnPurchase`): one per namespace and add-on,
//! versioned so that concurrent updates never lose one another.

use gl_model::{AddOnPurchase, Namespace, NamespaceId, Settings};

use super::Billing;
use crate::repo::identity;
use crate::repo::{decode, put_new};
use crate::{Condition, Item, StoreError, WriteOp, keys};

/// A namespace with its purchase of one add-on, and the instance settings (whether this is
/// GitLab.com decides which namespaces may buy), read in one round.
#[derive(Debug, Clone)]
pub struct AddOnPurchaseTarget {
    pub namespace: Option<Namespace>,
    pub purchase: Option<AddOnPurchase>,
    pub settings: Settings,
}

impl Billing<'_> {
    /// Namespace `id` and its purchase of `add_on` (not read for an add-on GitLab does not
    /// know: `None`), in one read.
    pub async fn add_on_purchase_target(
        self,
        id: Option<NamespaceId>,
        add_on: Option<&str>,
    ) -> Result<AddOnPurchaseTarget, StoreError> {
        let Some(id) = id else {
            return Ok(AddOnPurchaseTarget {
                namespace: None,
                purchase: None,
                settings: Settings::default(),
            });
        };
        let mut keys = identity::namespace_keys(id).to_vec();
        keys.extend(add_on.map(|add_on| keys::add_on_purchase(id, add_on)));
        let (found, settings) = self.repo.get_many_with_settings(&keys).await?;
        Ok(AddOnPurchaseTarget {
            namespace: identity::namespace_from(found[0].as_ref(), found[1].as_ref())?,
            settings,
            purchase: decode(found.get(2).and_then(Option::as_ref))?,
        })
    }

    /// Stores a namespace's first purchase of an add-on; `ConditionFailed` when it has one.
    pub async fn create_add_on_purchase(self, purchase: &AddOnPurchase) -> Result<(), StoreError> {
        self.repo
            .write(vec![put_new(Item::new(
                keys::add_on_purchase(purchase.namespace_id, &purchase.add_on),
                purchase,
            ))])
            .await
    }

    /// Replaces a purchase read at version `purchase.version - 1`; `ConditionFailed` when
    /// someone wrote it since (read it again and reapply).
    pub async fn update_add_on_purchase(self, purchase: &AddOnPurchase) -> Result<(), StoreError> {
        self.repo
            .write(vec![WriteOp::Put {
                item: Item::new(
                    keys::add_on_purchase(purchase.namespace_id, &purchase.add_on),
                    purchase,
                ),
                condition: Condition::VersionEquals(purchase.version - 1),
            }])
            .await
    }
}
