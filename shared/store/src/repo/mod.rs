//! Typed access to the store, written once over the port and split by family. Every endpoint
//! reaches its part through a narrow view (`repo.kas().record_usage(..)`) that takes domain
//! inputs and returns typed records; keys are built only in [`crate::keys`], and only the
//! [`identity`] part writes lookup items.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use gl_model::Settings;
use serde::de::DeserializeOwned;

use crate::{Item, Key, Store, StoreError, WriteOp, keys};

pub mod billing;
pub mod error_tracking;
pub mod git_access;
pub mod identity;
pub mod kas;
pub mod provisioning;
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
    settings: Arc<SettingsCache>,
}

/// How long a process trusts the instance settings it read, unless configured otherwise:
/// GitLab's own `ApplicationSetting.current` is cached in process for a minute.
pub const DEFAULT_SETTINGS_TTL: Duration = Duration::from_secs(60);

/// The instance settings as last read, for a bounded time. Every SSH login and every KAS call
/// needs them, and they are one item: read with every request, that item would be the
/// table's hottest partition (about 3,000 consistent reads a second, then throttling).
struct SettingsCache {
    ttl: Duration,
    kept: Mutex<Option<(Instant, Settings)>>,
}

impl SettingsCache {
    fn fresh(&self) -> Option<Settings> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.as_ref()
            .filter(|(read_at, _)| read_at.elapsed() < self.ttl)
            .map(|(_, settings)| settings.clone())
    }

    fn keep(&self, read_at: Instant, settings: &Settings) {
        if !self.ttl.is_zero() {
            *self.kept.lock().unwrap_or_else(PoisonError::into_inner) =
                Some((read_at, settings.clone()));
        }
    }
}

impl Repository {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_settings_ttl(store, DEFAULT_SETTINGS_TTL)
    }

    /// A repository that trusts the settings it read for `ttl` (zero: reads them every time).
    pub fn with_settings_ttl(store: Arc<dyn Store>, ttl: Duration) -> Self {
        Self {
            store,
            settings: Arc::new(SettingsCache {
                ttl,
                kept: Mutex::new(None),
            }),
        }
    }

    /// Forgets the cached settings, so that the next request reads them: for a process that
    /// has just written them (the tests; the seed import runs in a process of its own).
    pub fn forget_settings(&self) {
        *self
            .settings
            .kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// `keys` and the instance settings, in one round trip when the settings are not cached
    /// (none when they are and `keys` is empty). The items answer `keys`, in order.
    pub(crate) async fn get_many_with_settings(
        &self,
        keys: &[Key],
    ) -> Result<(Vec<Option<Item>>, Settings), StoreError> {
        if let Some(settings) = self.settings.fresh() {
            let found = if keys.is_empty() {
                Vec::new()
            } else {
                self.get_many(keys).await?
            };
            return Ok((found, settings));
        }
        let read_at = Instant::now();
        let mut wanted = keys.to_vec();
        wanted.push(keys::settings());
        let mut found = self.get_many(&wanted).await?;
        let settings = identity::settings_from(found.pop().flatten().as_ref())?;
        self.settings.keep(read_at, &settings);
        Ok((found, settings))
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

    pub fn provisioning(&self) -> provisioning::Provisioning<'_> {
        provisioning::Provisioning { repo: self }
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
