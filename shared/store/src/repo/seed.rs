//! Provisioning from a validated seed: each part of the repository contributes its records,
//! and the import writes them record by record, each with its lookups in one transaction.

use gl_model::Settings;
use gl_model::seed::SeedWorld;

use super::{Repository, put};
use crate::{Item, Key, StoreError, WriteOp, keys};

/// One record of a seed and the items it takes: the record first, then its lookups.
#[derive(Debug)]
pub(crate) struct SeedRecord {
    name: String,
    ops: Vec<WriteOp>,
}

impl SeedRecord {
    pub(crate) fn new(name: String, ops: Vec<WriteOp>) -> Self {
        debug_assert!(
            !ops.is_empty(),
            "a seed record writes at least its own item"
        );
        Self { name, ops }
    }

    pub(super) fn ops(&self) -> &[WriteOp] {
        &self.ops
    }

    pub(super) fn into_parts(self) -> (String, Vec<WriteOp>) {
        (self.name, self.ops)
    }

    fn primary(&self) -> &Key {
        self.ops[0].key()
    }

    fn lookups(&self) -> impl Iterator<Item = &Key> {
        self.ops[1..].iter().map(WriteOp::key)
    }
}

/// What a seed import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub written: usize,
    pub already_present: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "{record}: conflicts with what the store already holds (a username, path, key or token taken by another record)"
    )]
    Conflict { record: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Each part's contribution, in the order they are written (records a later one depends on
/// first; a failed import leaves a prefix of this order behind).
pub(super) const CONTRIBUTIONS: [fn(&SeedWorld) -> Vec<SeedRecord>; 5] = [
    super::identity::namespace_seed_records,
    super::kas::seed_records,
    super::error_tracking::seed_records,
    super::identity::credential_seed_records,
    super::scim::seed_records,
];

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SeedMarker {
    seeded: bool,
}

#[derive(Clone, Copy)]
pub struct Seeding<'r> {
    pub(super) repo: &'r Repository,
}

impl Seeding<'_> {
    /// Writes a validated seed. Each record goes in one transaction with its lookups, each
    /// conditioned on not existing: a record already present is left as it is (so importing
    /// the same file twice changes nothing), and a lookup taken by another record is a conflict.
    pub async fn import(self, world: SeedWorld) -> Result<ImportReport, ImportError> {
        let records: Vec<SeedRecord> = CONTRIBUTIONS
            .iter()
            .flat_map(|contribution| contribution(&world))
            .collect();
        // Read every item the import would write before writing any: a record already present
        // is left alone, and a lookup another record holds (a username, a path, a key) is a
        // conflict reported while nothing has been written yet.
        let all_keys: Vec<Key> = records
            .iter()
            .flat_map(|record| record.ops.iter().map(|op| op.key().clone()))
            .collect();
        let mut existing = std::collections::HashSet::new();
        for chunk in all_keys.chunks(100) {
            for (key, found) in chunk.iter().zip(self.repo.get_many(chunk).await?) {
                if found.is_some() {
                    existing.insert(key.clone());
                }
            }
        }
        let mut report = ImportReport::default();
        let mut pending = Vec::new();
        for record in records {
            if existing.contains(record.primary()) {
                report.already_present += 1;
            } else if record.lookups().any(|key| existing.contains(key)) {
                return Err(ImportError::Conflict {
                    record: record.name,
                });
            } else {
                pending.push(record);
            }
        }
        if world.settings.is_some() {
            if self.write_settings(&world).await? {
                report.written += 1;
            } else {
                report.already_present += 1;
            }
        }
        // A concurrent writer can still take a lookup between the read and the write; the
        // conditions catch it, record by record.
        for record in pending {
            let primary = record.primary().clone();
            match self.repo.write(record.ops).await {
                Ok(()) => report.written += 1,
                Err(StoreError::ConditionFailed) => {
                    if self.repo.get_item(primary).await?.is_some() {
                        report.already_present += 1;
                    } else {
                        return Err(ImportError::Conflict {
                            record: record.name,
                        });
                    }
                }
                Err(err) => return Err(err.into()),
            }
        }
        let marker = SeedMarker { seeded: true };
        self.repo
            .write(vec![put(Item::new(keys::seed_marker(), &marker))])
            .await?;
        Ok(report)
    }

    /// Replaces the settings when they differ; whether anything was written.
    async fn write_settings(self, world: &SeedWorld) -> Result<bool, StoreError> {
        let current: Option<Settings> = self.repo.get(keys::settings()).await?;
        let Some(settings) = world.settings_over(current.as_ref()) else {
            return Ok(false);
        };
        if current.as_ref() == Some(&settings) {
            return Ok(false);
        }
        self.repo
            .write(vec![put(Item::new(keys::settings(), &settings))])
            .await?;
        Ok(true)
    }

    /// Whether any seed was ever imported: the local server loads its demo world only into a
    /// store that has none.
    pub async fn has_been_seeded(self) -> Result<bool, StoreError> {
        Ok(self.repo.get_item(keys::seed_marker()).await?.is_some())
    }
}
