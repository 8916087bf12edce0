//! Typed access to the store, written once over the port and split by family. Every endpoint
//! reaches its part through a narrow view (`repo.kas().record_usage(..)`) that takes domain
//! inputs and returns typed records; keys are built only in [`crate::keys`], and only the
//! [`identity`] part writes lookup items.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::{Item, Key, Store, StoreError, WriteOp};

pub mod billing;
pub mod error_tracking;
pub mod git_access;
pub mod identity;
pub mod kas;
pub mod scim;
pub mod seed;
pub mod shell;

pub use billing::{
    AddOnPurchaseTarget, Billing, ExclusionTarget, MAX_PACKS_PER_CREATE, MAX_PACKS_PER_MOVE,
    MinutesMove, PacksTarget, SubscriptionTarget,
};
pub use error_tracking::ErrorTracking;
pub use git_access::{ActorQuery, GitAccess, GitAccessRecords, ProjectQuery};
pub use identity::{Identity, NamespaceRef};
pub use kas::{Kas, UserAccessRequest};
pub use scim::{
    ExistingUser, Membership, NewUser, ProvisioningTarget, Scim, ScimAccess, ScimBase, UserLookup,
};
pub use seed::{ImportError, ImportReport, Seeding};
pub use shell::Shell;

/// The repository: the store behind every family's view.
#[derive(Clone)]
pub struct Repository {
    store: Arc<dyn Store>,
}

impl Repository {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// The port itself, for tests that must put the store in states no endpoint produces.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Whether the store answers (GitLab's `/check` reports this as `redis`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    pub fn identity(&self) -> Identity<'_> {
        Identity { repo: self }
    }

    pub fn git_access(&self) -> GitAccess<'_> {
        GitAccess { repo: self }
    }

    pub fn shell(&self) -> Shell<'_> {
        Shell { repo: self }
    }

    pub fn kas(&self) -> Kas<'_> {
        Kas { repo: self }
    }

    pub fn billing(&self) -> Billing<'_> {
        Billing { repo: self }
    }

    pub fn error_tracking(&self) -> ErrorTracking<'_> {
        ErrorTracking { repo: self }
    }

    pub fn scim(&self) -> Scim<'_> {
        Scim { repo: self }
    }

    pub fn seeding(&self) -> Seeding<'_> {
        Seeding { repo: self }
    }

    pub(crate) async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.store.get_many(keys).await
    }

    pub(crate) async fn get_item(&self, key: Key) -> Result<Option<Item>, StoreError> {
        Ok(self.store.get_many(&[key]).await?.pop().flatten())
    }

    /// One record, decoded.
    pub(crate) async fn get<T: DeserializeOwned>(&self, key: Key) -> Result<Option<T>, StoreError> {
        decode(self.get_item(key).await?.as_ref())
    }

    pub(crate) async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.store.write(ops).await
    }

    /// Every item of a partition under a sort-key prefix, following pages.
    pub(crate) async fn query_all(
        &self,
        pk: &str,
        sk_prefix: &str,
    ) -> Result<Vec<Item>, StoreError> {
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
}

/// A found item decoded into its record; absence stays absence.
pub(crate) fn decode<T: DeserializeOwned>(item: Option<&Item>) -> Result<Option<T>, StoreError> {
    item.map(Item::decode).transpose()
}

/// One put of a new record, conditioned on the item not existing yet.
pub(crate) fn put_new(item: Item) -> WriteOp {
    WriteOp::Put {
        item,
        condition: crate::Condition::NotExists,
    }
}

/// One put that replaces whatever the item held.
pub(crate) fn put(item: Item) -> WriteOp {
    WriteOp::Put {
        item,
        condition: crate::Condition::None,
    }
}
