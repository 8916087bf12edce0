//! The storage port: item-level operations shaped like what DynamoDB does in one round trip,
//! with two adapters (embedded redb, DynamoDB) and a round-trip counter. Everything typed is
//! written once above the port, in [`repo`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub mod dynamodb;
pub mod embedded;
pub mod keys;
pub mod repo;
pub mod timing;

pub use keys::Key;
pub use repo::{DEFAULT_SETTINGS_TTL, Repository};

/// Attribute holding an item's expiry (epoch seconds); the table's TTL attribute.
pub const TTL_ATTRIBUTE: &str = "ttl";
/// Attribute holding an item's version for optimistic concurrency.
pub const VERSION_ATTRIBUTE: &str = "version";

/// DynamoDB's limit of items in one transaction (`TransactWriteItems`); both adapters refuse
/// a write over it.
pub const MAX_WRITE_ITEMS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write's condition did not hold; nothing of the write was applied.
    #[error("a condition of the write did not hold")]
    ConditionFailed,
    /// The store could not be reached or is throttling; the client may retry.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The store refused the request as invalid (an item or key over DynamoDB's size limits):
    /// the client's input was too big, not a fault of the service.
    #[error("the store rejected the request: {0}")]
    Rejected(String),
    /// A stored item could not be decoded into its record.
    #[error("a stored item is not what its key says: {0}")]
    Corrupt(String),
    #[error("the store failed: {0}")]
    Other(String),
}

/// One stored item: its key and its attributes (a JSON object, mapped to DynamoDB types).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub key: Key,
    pub attrs: Map<String, Value>,
}

impl Item {
    pub fn new<T: Serialize>(key: Key, record: &T) -> Self {
        let attrs = match serde_json::to_value(record) {
            Ok(Value::Object(attrs)) => attrs,
            _ => panic!("records are serialized as JSON objects"),
        };
        Self { key, attrs }
    }

    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.attrs.insert(name.to_owned(), value.into());
        self
    }

    /// The record this item holds, read from the attributes in place (no copy of them: this
    /// runs for every item every request reads).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, StoreError> {
        T::deserialize(&self.attrs)
            .map_err(|err| StoreError::Corrupt(format!("{}/{}: {err}", self.key.pk, self.key.sk)))
    }

    pub fn number(&self, name: &str) -> Option<i64> {
        self.attrs.get(name).and_then(Value::as_i64)
    }

    /// True when the item carries a TTL in the past. DynamoDB deletes expired items lazily
    /// (up to days later), so both adapters hide them on reads.
    pub fn expired(&self, now_epoch: i64) -> bool {
        self.number(TTL_ATTRIBUTE)
            .is_some_and(|ttl| ttl <= now_epoch)
    }
}

/// A condition on one item of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    None,
    NotExists,
    Exists,
    VersionEquals(i64),
    /// The number attribute exists and is greater than the value (guards decrements).
    NumberAbove(&'static str, i64),
}

impl Condition {
    /// Evaluates the condition against the item as it is now (absent: `None`).
    pub fn holds(self, current: Option<&Item>) -> bool {
        match self {
            Self::None => true,
            Self::NotExists => current.is_none(),
            Self::Exists => current.is_some(),
            Self::VersionEquals(version) => {
                current.and_then(|item| item.number(VERSION_ATTRIBUTE)) == Some(version)
            }
            Self::NumberAbove(name, floor) => current
                .and_then(|item| item.number(name))
                .is_some_and(|n| n > floor),
        }
    }
}

/// What DynamoDB's `ADD` adds: to a number, or members to a number set (a set keeps each
/// value once, so concurrent adds of the same member count once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addend {
    Number(i64),
    NumberSet(Vec<i64>),
}

impl From<i64> for Addend {
    fn from(delta: i64) -> Self {
        Self::Number(delta)
    }
}

/// One element of an atomic write.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    Put {
        item: Item,
        condition: Condition,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
    /// Atomic counter adds (numbers, or members into a number set) and attribute sets on one
    /// item, creating it if absent. `set_if_absent` sets an attribute only where the item has
    /// none (DynamoDB's `if_not_exists`): "add a membership unless there is one" in a
    /// transaction that must not fail on it.
    Update {
        key: Key,
        add: Vec<(String, Addend)>,
        set: Vec<(String, Value)>,
        set_if_absent: Vec<(String, Value)>,
        condition: Condition,
    },
    Check {
        key: Key,
        condition: Condition,
    },
}

impl WriteOp {
    pub fn key(&self) -> &Key {
        match self {
            Self::Put { item, .. } => &item.key,
            Self::Delete { key, .. } | Self::Update { key, .. } | Self::Check { key, .. } => key,
        }
    }
}

/// A page of a partition query, in sort-key order.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    /// The sort key to continue after, when more items may follow.
    pub next: Option<String>,
}

/// A page of a whole-table scan, in no particular order.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanPage {
    pub items: Vec<Item>,
    /// The key to continue after, when more items may follow.
    pub next: Option<Key>,
}

/// The storage port. Each call is one round trip to the store (the adapters may page inside a
/// call, which DynamoDB needs for unprocessed keys, but never add a sequential dependency).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Strongly consistent reads of many keys, answered in the order asked.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError>;

    /// Items of one partition whose sort key starts with `sk_prefix`, strongly consistent.
    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError>;

    /// All operations or none: one transaction, or one conditional write for a single op.
    /// Each item may appear once per write, as in `TransactWriteItems`.
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;

    /// A page of every item of the table, continuing after `after`: provisioning's prune
    /// and export read the whole table this way; no request ever does.
    async fn scan(&self, after: Option<&Key>, limit: usize) -> Result<ScanPage, StoreError>;

    /// Whether the store answers (GitLab's `/check` reports this as `redis`).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Wraps a store and counts its sequential round trips, so tests can hold every endpoint to
/// its budget. Calls that overlap (issued concurrently) count as one round.
pub struct CountingStore {
    inner: Arc<dyn Store>,
    round_trips: AtomicU64,
    in_flight: AtomicU64,
    settings_reads: AtomicU64,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            round_trips: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            settings_reads: AtomicU64::new(0),
        }
    }

    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::SeqCst)
    }

    /// How often the instance settings item was read: the hot item the in-process cache
    /// keeps off the request path.
    pub fn settings_reads(&self) -> u64 {
        self.settings_reads.load(Ordering::SeqCst)
    }

    pub fn reset(&self) {
        self.round_trips.store(0, Ordering::SeqCst);
        self.settings_reads.store(0, Ordering::SeqCst);
    }

    async fn round<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        if self.in_flight.fetch_add(1, Ordering::SeqCst) == 0 {
            self.round_trips.fetch_add(1, Ordering::SeqCst);
        }
        // Let calls issued alongside this one start before it completes: an embedded read can
        // finish without ever yielding, which would make concurrent calls look sequential.
        tokio::task::yield_now().await;
        let result = call.await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

#[async_trait]
impl Store for CountingStore {
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        if keys.contains(&keys::settings()) {
            self.settings_reads.fetch_add(1, Ordering::SeqCst);
        }
        self.round(self.inner.get_many(keys)).await
    }

    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        self.round(self.inner.query(pk, sk_prefix, start_after, limit))
            .await
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.round(self.inner.write(ops)).await
    }

    async fn scan(&self, after: Option<&Key>, limit: usize) -> Result<ScanPage, StoreError> {
        self.round(self.inner.scan(after, limit)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.round(self.inner.ping()).await
    }
}

/// `TransactWriteItems` refuses more than [`MAX_WRITE_ITEMS`] items and two operations on one
/// item; both adapters refuse the same.
pub(crate) fn check_distinct_items(ops: &[WriteOp]) -> Result<(), StoreError> {
    if ops.len() > MAX_WRITE_ITEMS {
        return Err(StoreError::Other(format!(
            "a transaction holds at most {MAX_WRITE_ITEMS} items, not {}",
            ops.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for op in ops {
        if !seen.insert(op.key()) {
            return Err(StoreError::Other(format!(
                "two operations on {}/{} in one write",
                op.key().pk,
                op.key().sk
            )));
        }
    }
    Ok(())
}

pub(crate) fn now_epoch() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(n: usize) -> WriteOp {
        WriteOp::Put {
            item: Item::new(
                Key {
                    pk: format!("P#{n}"),
                    sk: "S".into(),
                },
                &serde_json::json!({}),
            ),
            condition: Condition::None,
        }
    }

    #[test]
    fn a_write_holds_at_most_dynamodbs_transaction_limit_of_distinct_items() {
        let full: Vec<WriteOp> = (0..MAX_WRITE_ITEMS).map(put).collect();
        assert!(check_distinct_items(&full).is_ok());
        let over: Vec<WriteOp> = (0..=MAX_WRITE_ITEMS).map(put).collect();
        assert!(check_distinct_items(&over).is_err());
        assert!(check_distinct_items(&[put(1), put(1)]).is_err());
    }
}
