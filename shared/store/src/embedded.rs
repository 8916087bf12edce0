//! The embedded adapter: one redb table holding every item, keyed by `(pk, sk)`. Used by the
//! local server (a file, so data survives a restart) and by tests (in memory). Each port call
//! is one redb transaction, so writes are all-or-nothing exactly like `TransactWriteItems`.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};
use serde_json::{Map, Value};

use crate::{Addend, Item, Key, Page, ScanPage, Store, StoreError, WriteOp, now_epoch};

const ITEMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("items");

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
}

fn other(err: impl std::fmt::Display) -> StoreError {
    StoreError::Other(err.to_string())
}

impl EmbeddedStore {
    /// Opens (or creates) the store file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(other)?;
        Ok(Self { db: Arc::new(db) })
    }

    /// A store that lives in memory only, for tests.
    pub fn in_memory() -> Self {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .expect("an in-memory redb database can always be created");
        Self { db: Arc::new(db) }
    }

    /// Reads run on the calling task: a redb read transaction is an in-memory B-tree walk (or
    /// a page-cache hit for the file), microseconds, so a thread hop would cost more than it
    /// saves. Writes, which fsync, go through [`Self::blocking`].
    fn read<T>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        work(&self.db)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(other)?
    }
}

fn decode(key: Key, bytes: &[u8]) -> Result<Item, StoreError> {
    let attrs: Map<String, Value> = serde_json::from_slice(bytes)
        .map_err(|err| StoreError::Corrupt(format!("{}/{}: {err}", key.pk, key.sk)))?;
    Ok(Item { key, attrs })
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        let keys = keys.to_vec();
        self.read(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let table = match txn.open_table(ITEMS) {
                Ok(table) => table,
                Err(TableError::TableDoesNotExist(_)) => return Ok(vec![None; keys.len()]),
                Err(err) => return Err(other(err)),
            };
            let now = now_epoch();
            keys.into_iter()
                .map(|key| {
                    let found = table
                        .get((key.pk.as_str(), key.sk.as_str()))
                        .map_err(other)?;
                    match found {
                        Some(bytes) => {
                            let item = decode(key, bytes.value())?;
                            Ok((!item.expired(now)).then_some(item))
                        }
                        None => Ok(None),
                    }
                })
                .collect()
        })
    }

    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let (pk, sk_prefix) = (pk.to_owned(), sk_prefix.to_owned());
        let start_after = start_after.map(str::to_owned);
        self.read(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let table = match txn.open_table(ITEMS) {
                Ok(table) => table,
                Err(TableError::TableDoesNotExist(_)) => {
                    return Ok(Page {
                        items: Vec::new(),
                        next: None,
                    });
                }
                Err(err) => return Err(other(err)),
            };
            let start = start_after.clone().unwrap_or_else(|| sk_prefix.clone());
            let now = now_epoch();
            let mut items = Vec::new();
            let mut next = None;
            for entry in table
                .range((pk.as_str(), start.as_str())..)
                .map_err(other)?
            {
                let (key, value) = entry.map_err(other)?;
                let (item_pk, item_sk) = key.value();
                if item_pk != pk || !item_sk.starts_with(&sk_prefix) {
                    break;
                }
                if start_after.as_deref() == Some(item_sk) {
                    continue;
                }
                if items.len() == limit {
                    next = items.last().map(|item: &Item| item.key.sk.clone());
                    break;
                }
                let item = decode(
                    Key {
                        pk: item_pk.to_owned(),
                        sk: item_sk.to_owned(),
                    },
                    value.value(),
                )?;
                if !item.expired(now) {
                    items.push(item);
                }
            }
            Ok(Page { items, next })
        })
    }

    async fn scan(&self, after: Option<&Key>, limit: usize) -> Result<ScanPage, StoreError> {
        let after = after.cloned();
        self.read(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let table = match txn.open_table(ITEMS) {
                Ok(table) => table,
                Err(TableError::TableDoesNotExist(_)) => {
                    return Ok(ScanPage {
                        items: Vec::new(),
                        next: None,
                    });
                }
                Err(err) => return Err(other(err)),
            };
            let now = now_epoch();
            let range = match &after {
                Some(after) => table.range((after.pk.as_str(), after.sk.as_str())..),
                None => table.range::<(&str, &str)>(..),
            }
            .map_err(other)?;
            let mut items = Vec::new();
            let mut next = None;
            for entry in range {
                let (key, value) = entry.map_err(other)?;
                let (pk, sk) = key.value();
                let key = Key {
                    pk: pk.to_owned(),
                    sk: sk.to_owned(),
                };
                if after.as_ref() == Some(&key) {
                    continue;
                }
                if items.len() == limit {
                    next = items.last().map(|item: &Item| item.key.clone());
                    break;
                }
                let item = decode(key, value.value())?;
                if !item.expired(now) {
                    items.push(item);
                }
            }
            Ok(ScanPage { items, next })
        })
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        crate::check_distinct_items(&ops)?;
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(other)?;
            {
                let mut table = txn.open_table(ITEMS).map_err(other)?;
                // Every condition is checked before anything is written: all or nothing.
                let now = now_epoch();
                let mut current = Vec::with_capacity(ops.len());
                for op in &ops {
                    let key = op.key();
                    let found = table
                        .get((key.pk.as_str(), key.sk.as_str()))
                        .map_err(other)?;
                    // An expired item is gone for every purpose, as reads already treat it.
                    let item = found
                        .map(|bytes| decode(key.clone(), bytes.value()))
                        .transpose()?
                        .filter(|item| !item.expired(now));
                    let condition = match op {
                        WriteOp::Put { condition, .. }
                        | WriteOp::Delete { condition, .. }
                        | WriteOp::Update { condition, .. }
                        | WriteOp::Check { condition, .. } => *condition,
                    };
                    if !condition.holds(item.as_ref()) {
                        return Err(StoreError::ConditionFailed);
                    }
                    current.push(item);
                }
                for (op, existing) in ops.into_iter().zip(current) {
                    match op {
                        WriteOp::Put { item, .. } => {
                            let bytes = serde_json::to_vec(&item.attrs).map_err(other)?;
                            table
                                .insert(
                                    (item.key.pk.as_str(), item.key.sk.as_str()),
                                    bytes.as_slice(),
                                )
                                .map_err(other)?;
                        }
                        WriteOp::Delete { key, .. } => {
                            table
                                .remove((key.pk.as_str(), key.sk.as_str()))
                                .map_err(other)?;
                        }
                        WriteOp::Update {
                            key,
                            add,
                            set,
                            set_if_absent,
                            ..
                        } => {
                            let mut attrs = existing.map(|item| item.attrs).unwrap_or_default();
                            for (name, addend) in add {
                                let merged = match addend {
                                    // A counter stops at i64's bounds instead of wrapping
                                    // (or panicking): DynamoDB's numbers have 38 digits.
                                    Addend::Number(delta) => Value::from(
                                        attrs
                                            .get(&name)
                                            .and_then(Value::as_i64)
                                            .unwrap_or(0)
                                            .saturating_add(delta),
                                    ),
                                    Addend::NumberSet(members) => {
                                        let mut set: std::collections::BTreeSet<i64> = attrs
                                            .get(&name)
                                            .and_then(Value::as_array)
                                            .map(|values| {
                                                values.iter().filter_map(Value::as_i64).collect()
                                            })
                                            .unwrap_or_default();
                                        set.extend(members);
                                        Value::from(set.into_iter().collect::<Vec<_>>())
                                    }
                                };
                                attrs.insert(name, merged);
                            }
                            for (name, value) in set {
                                attrs.insert(name, value);
                            }
                            for (name, value) in set_if_absent {
                                attrs.entry(name).or_insert(value);
                            }
                            let bytes = serde_json::to_vec(&attrs).map_err(other)?;
                            table
                                .insert((key.pk.as_str(), key.sk.as_str()), bytes.as_slice())
                                .map_err(other)?;
                        }
                        WriteOp::Check { .. } => {}
                    }
                }
            }
            txn.commit().map_err(other)
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
