//! Provisioning that converges: a world file applied as a plan. Every record of the file is
//! compared with what the store holds under its key; a record that is missing is created, one
//! that differs is rewritten field by field, and each goes in one transaction with its lookup
//! items, so that a renamed user takes its username item with it and a revoked token's digest
//! item stops authenticating at once. Applying the same file again plans nothing.
//!
//! A record's primary item remembers the lookup items provisioning wrote for it
//! ([`PROVISIONED_LOOKUPS`]): those that the new version of the record no longer has (an old
//! username, a removed key's fingerprint) are deleted in the same transaction, and only items
//! carrying it are provisioning's own. What the service created itself (tokens minted through
//! the API, SCIM users, billing and KAS records) never carries it.

use std::collections::{BTreeMap, HashMap, HashSet};

use gl_model::Settings;
use gl_model::seed::SeedWorld;
use serde_json::{Map, Value};

use super::seed::{CONTRIBUTIONS, SeedRecord};
use super::{Repository, put};
use crate::{Condition, Item, Key, StoreError, WriteOp, keys};

/// The attribute of a provisioned record's primary item listing its lookup items, as
/// `[pk, sk]` pairs.
pub const PROVISIONED_LOOKUPS: &str = "provisioned_lookups";

/// What applying a world file would change.
#[derive(Debug, Default)]
pub struct Plan {
    pub changes: Vec<RecordChange>,
    /// Records already as the file has them.
    pub unchanged: usize,
    /// With prune: what the store holds that the file does not, left alone because the
    /// service made it, and how many (by what it is).
    pub left_alone: BTreeMap<&'static str, usize>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// How many records each kind of change touches: (creates, updates, deletes).
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |action| {
            self.changes
                .iter()
                .filter(|change| change.action == action)
                .count()
        };
        (
            count(Action::Create),
            count(Action::Update),
            count(Action::Delete),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    /// With prune: a record provisioning wrote that the file no longer has.
    Delete,
}

/// One record's change: what it is, the fields that differ (for an update), and the
/// transaction that makes it.
#[derive(Debug)]
pub struct RecordChange {
    pub record: String,
    pub action: Action,
    pub fields: Vec<FieldChange>,
    ops: Vec<WriteOp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub field: String,
    pub from: Option<Value>,
    pub to: Option<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(
        "{record}: {key} is held by another record (a username, email, path, key or token taken)"
    )]
    Conflict { record: String, key: String },
    #[error("{record}: changed by someone else while it was applied; run apply again")]
    Raced { record: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an export read: the managed world, and what it left out because the service made
/// it (by what it is).
#[derive(Debug, Default)]
pub struct Export {
    pub world: SeedWorld,
    pub left_out: BTreeMap<&'static str, usize>,
}

#[derive(Clone, Copy)]
pub struct Provisioning<'r> {
    pub(super) repo: &'r Repository,
}

/// Reads in batches of this many keys (DynamoDB's `BatchGetItem` limit).
const READ_BATCH: usize = 100;

/// Batch reads in flight at once while planning.
const READS_IN_FLIGHT: usize = 8;

/// Items per page of the prune's scan.
const SCAN_PAGE: usize = 1000;

/// A record a prune deletes, named as the plan names records (`user 5`, `group 10 member 6`).
fn describe(key: &Key) -> String {
    use keys::ProvisionedRecord as R;
    match keys::provisioned_record(key) {
        Some(R::User(id)) => format!("user {id}"),
        Some(R::Key(id)) => format!("key {id}"),
        Some(R::Group(id)) => format!("group {id}"),
        Some(R::GroupMember(group, user)) => format!("group {group} member {user}"),
        Some(R::Project(id)) => format!("project {id}"),
        Some(R::ProjectMember(project, user)) => format!("project {project} member {user}"),
        Some(R::ProjectPolicies(id)) => format!("project {id} scan execution policies"),
        Some(R::ErrorTrackingKey(id)) => format!("project {id} error tracking key"),
        Some(R::Agent(id)) => format!("agent {id}"),
        Some(R::PersonalAccessToken(id)) => format!("personal access token {id}"),
        Some(R::ScimToken) => "a scim token".to_owned(),
        None => format!("{}/{}", key.pk, key.sk),
    }
}

/// What a prune never deletes, by what made it: the service's own records (and the lookups
/// of records provisioning did not write) are counted under what they are.
fn made_by_the_service(key: &Key) -> Option<&'static str> {
    let partition = key.pk.split('#').next().unwrap_or_default();
    Some(match (partition, key.sk.as_str()) {
        ("USER", "USER") => "users created through SCIM (or imported before apply)",
        ("NAMESPACE", sk) if sk.starts_with("MEMBER#") => {
            "group memberships SCIM made (or imported before apply)"
        }
        ("PAT", _) => "personal access tokens minted through /personal_access_token",
        ("RECOVERY", _) => "2FA recovery codes",
        ("LFSTOKEN", _) => "LFS tokens",
        ("REFCOUNT", _) => "push reference counters",
        ("SCIM", _) => "SCIM identities and providers",
        ("AGENT_STATE" | "KAS", _) => "KAS state (agent configurations, findings, usage)",
        (
            "GITLAB_SUBSCRIPTION"
            | "ADD_ON_PURCHASE"
            | "MINUTE_PACKS"
            | "MINUTE_PACK_PURCHASE"
            | "UPCOMING_RECONCILIATION"
            | "STORAGE_EXCLUSIONS"
            | "STORAGE_EXCLUSION",
            _,
        ) => "billing and admin records (CustomersDot, the Admin Area)",
        _ => return None,
    })
}

impl Provisioning<'_> {
    /// Compares `world` with the store. `now` is the timestamp the file's records were given
    /// where they named none: a record that exists keeps its own instead, so that applying
    /// the same file again plans nothing.
    /// With `prune`, records provisioning wrote that the file no longer has are deleted with
    /// their lookups; what the service made itself is left alone and counted.
    pub async fn plan(self, world: &SeedWorld, now: &str, prune: bool) -> Result<Plan, ApplyError> {
        let records: Vec<SeedRecord> = CONTRIBUTIONS
            .iter()
            .flat_map(|contribution| contribution(world))
            .collect();
        let wanted_primaries: HashSet<Key> = records
            .iter()
            .filter_map(|record| record.ops().first().map(|op| op.key().clone()))
            .collect();
        let wanted: Vec<Key> = records
            .iter()
            .flat_map(|record| record.ops().iter().map(|op| op.key().clone()))
            .collect();
        let current = self.read(&wanted).await?;
        let mut plan = Plan::default();
        for record in records {
            match record_change(record, &current, now)? {
                Some(change) => plan.changes.push(change),
                None => plan.unchanged += 1,
            }
        }
        if world.settings.is_some() {
            let stored: Option<Settings> = self.repo.get(keys::settings()).await?;
            let settings = world.settings_over(stored.as_ref());
            if let Some(settings) = settings.as_ref()
                && stored.as_ref() != Some(settings)
            {
                let to = serde_json::to_value(settings).ok();
                let from = stored.and_then(|stored| serde_json::to_value(stored).ok());
                plan.changes.push(RecordChange {
                    record: "settings".to_owned(),
                    action: if from.is_some() {
                        Action::Update
                    } else {
                        Action::Create
                    },
                    fields: field_changes(from.as_ref(), to.as_ref()),
                    ops: vec![put(Item::new(keys::settings(), settings))],
                });
            } else {
                plan.unchanged += 1;
            }
        }
        if prune {
            self.plan_prune(&wanted_primaries, &mut plan).await?;
        }
        Ok(plan)
    }

    /// Reads the whole table for records provisioning wrote that the file no longer has.
    async fn plan_prune(self, wanted: &HashSet<Key>, plan: &mut Plan) -> Result<(), StoreError> {
        self.each_item(|item| {
            if wanted.contains(&item.key) {
                return Ok(());
            }
            if item.attrs.contains_key(PROVISIONED_LOOKUPS) {
                let mut ops = vec![WriteOp::Delete {
                    key: item.key.clone(),
                    condition: Condition::Exists,
                }];
                ops.extend(
                    provisioned_lookups(&item)
                        .into_iter()
                        .map(|key| WriteOp::Delete {
                            key,
                            condition: Condition::None,
                        }),
                );
                plan.changes.push(RecordChange {
                    record: describe(&item.key),
                    action: Action::Delete,
                    fields: Vec::new(),
                    ops,
                });
            } else if let Some(what) = made_by_the_service(&item.key) {
                *plan.left_alone.entry(what).or_default() += 1;
            }
            Ok(())
        })
        .await
    }

    /// Every item of the table, page by page: what a prune and an export read.
    async fn each_item(
        self,
        mut visit: impl FnMut(Item) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut after: Option<Key> = None;
        loop {
            let page = self.repo.store().scan(after.as_ref(), SCAN_PAGE).await?;
            for item in page.items {
                visit(item)?;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// The world provisioning manages, read back from the whole table: every record an apply
    /// wrote, as the file format has it (tokens as digests). What the service made is left
    /// out and counted, as a prune leaves it alone.
    pub async fn export(self) -> Result<Export, StoreError> {
        use keys::ProvisionedRecord as R;
        let mut export = Export::default();
        let world = &mut export.world;
        let left_out = &mut export.left_out;
        self.each_item(|item| {
            if item.key == keys::settings() {
                world.settings = Some(item.decode()?);
                world.keeps_gitaly_token = true;
                return Ok(());
            }
            let Some(record) = keys::provisioned_record(&item.key)
                .filter(|_| item.attrs.contains_key(PROVISIONED_LOOKUPS))
            else {
                if let Some(what) = made_by_the_service(&item.key) {
                    *left_out.entry(what).or_default() += 1;
                }
                return Ok(());
            };
            match record {
                R::User(_) => world.users.push(item.decode()?),
                R::Key(_) => world.keys.push(item.decode()?),
                R::Group(_) => world.groups.push(item.decode()?),
                R::GroupMember(group, _) => world.group_members.push((group, item.decode()?)),
                R::Project(_) => world.projects.push(item.decode()?),
                R::ProjectMember(project, _) => {
                    world.project_members.push((project, item.decode()?))
                }
                R::ProjectPolicies(project) => {
                    let stored: super::kas::ProjectPolicies = item.decode()?;
                    world
                        .scan_execution_policies
                        .push((project, stored.policies));
                }
                R::ErrorTrackingKey(project) => {
                    world.error_tracking_keys.push((project, item.decode()?))
                }
                R::Agent(_) => world.agents.push(item.decode()?),
                R::PersonalAccessToken(_) => world.personal_access_tokens.push(item.decode()?),
                R::ScimToken => world.scim_tokens.push(item.decode()?),
            }
            Ok(())
        })
        .await?;
        Ok(export)
    }

    /// Every item under `keys`, in batches, several in flight.
    async fn read(self, keys: &[Key]) -> Result<HashMap<Key, Item>, StoreError> {
        use futures_util::{StreamExt as _, TryStreamExt as _};
        let mut distinct: Vec<Key> = keys.to_vec();
        distinct.sort();
        distinct.dedup();
        let batches: Vec<Vec<(Key, Option<Item>)>> =
            futures_util::stream::iter(distinct.chunks(READ_BATCH))
                .map(|chunk| async move {
                    let found = self.repo.get_many(chunk).await?;
                    Ok::<_, StoreError>(chunk.iter().cloned().zip(found).collect())
                })
                .buffer_unordered(READS_IN_FLIGHT)
                .try_collect()
                .await?;
        Ok(batches
            .into_iter()
            .flatten()
            .filter_map(|(key, item)| Some((key, item?)))
            .collect())
    }

    /// Makes one planned change: its record and lookups in one transaction, each conditioned
    /// on what the plan saw, so a concurrent writer is noticed rather than overwritten.
    pub async fn apply(self, change: RecordChange) -> Result<(), ApplyError> {
        match self.repo.write(change.ops).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed) => Err(ApplyError::Raced {
                record: change.record,
            }),
            Err(err) => Err(err.into()),
        }
    }
}

/// The change one record needs, or `None` when the store already holds it as the file has it.
fn record_change(
    record: SeedRecord,
    current: &HashMap<Key, Item>,
    now: &str,
) -> Result<Option<RecordChange>, ApplyError> {
    let (name, ops) = record.into_parts();
    if ops.iter().any(|op| !matches!(op, WriteOp::Put { .. })) {
        // Every contribution is puts; anything else is not provisioning's to diff.
        return Ok(None);
    }
    let mut items: Vec<(Item, Condition)> = ops
        .into_iter()
        .filter_map(|op| match op {
            WriteOp::Put { item, condition } => Some((item, condition)),
            _ => None,
        })
        .collect();
    let primary_key = items[0].0.key.clone();
    let stored_primary = current.get(&primary_key);
    let is_counter = items[0].1 == Condition::NotExists
        && items[0].0.attrs.contains_key(crate::VERSION_ATTRIBUTE);
    if is_counter {
        return Ok(counter_change(name, items.swap_remove(0).0, stored_primary));
    }
    if let Some(stored) = stored_primary {
        keep_stored_timestamps(&mut items, stored, now);
    }
    let lookups: Vec<Value> = items[1..]
        .iter()
        .map(|(item, _)| Value::Array(vec![item.key.pk.clone().into(), item.key.sk.clone().into()]))
        .collect();
    items[0]
        .0
        .attrs
        .insert(PROVISIONED_LOOKUPS.to_owned(), Value::Array(lookups));
    let provisioned_before = stored_primary.map(provisioned_lookups).unwrap_or_default();
    // A record imported before provisioning kept lists of lookups is adopted whole: the
    // lookups its key names are taken to be its own.
    let adopting = stored_primary.is_some_and(|item| !item.attrs.contains_key(PROVISIONED_LOOKUPS));

    let mut ops = Vec::new();
    for (index, (item, _)) in items.iter().enumerate() {
        let stored = current.get(&item.key);
        if stored.map(|stored| &stored.attrs) == Some(&item.attrs) {
            continue;
        }
        let condition = match (index, stored) {
            (_, None) => Condition::NotExists,
            (0, Some(_)) => Condition::Exists,
            // A lookup that exists is this record's only when provisioning wrote it for it.
            (_, Some(_)) => {
                if !adopting && !provisioned_before.contains(&item.key) {
                    return Err(ApplyError::Conflict {
                        record: name,
                        key: format!("{}/{}", item.key.pk, item.key.sk),
                    });
                }
                Condition::Exists
            }
        };
        ops.push(WriteOp::Put {
            item: item.clone(),
            condition,
        });
    }
    let still_wanted: HashSet<&Key> = items.iter().map(|(item, _)| &item.key).collect();
    for stale in provisioned_before
        .iter()
        .filter(|key| !still_wanted.contains(key))
    {
        ops.push(WriteOp::Delete {
            key: stale.clone(),
            condition: Condition::None,
        });
    }
    if ops.is_empty() {
        return Ok(None);
    }
    let (action, fields) = match stored_primary {
        None => (Action::Create, Vec::new()),
        Some(stored) => {
            let mut from = stored.attrs.clone();
            let mut to = items[0].0.attrs.clone();
            from.remove(PROVISIONED_LOOKUPS);
            to.remove(PROVISIONED_LOOKUPS);
            (
                Action::Update,
                field_changes(Some(&Value::Object(from)), Some(&Value::Object(to))),
            )
        }
    };
    Ok(Some(RecordChange {
        record: name,
        action,
        fields,
        ops,
    }))
}

/// An id sequence only moves forward: the service allocates ids past what a file names (SCIM
/// creates users), and going back would hand the same id out twice.
fn counter_change(name: String, wanted: Item, stored: Option<&Item>) -> Option<RecordChange> {
    let wanted_last = wanted.number(crate::VERSION_ATTRIBUTE)?;
    let (action, condition) = match stored.and_then(|item| item.number(crate::VERSION_ATTRIBUTE)) {
        None => (Action::Create, Condition::NotExists),
        Some(stored_last) if stored_last < wanted_last => {
            (Action::Update, Condition::VersionEquals(stored_last))
        }
        Some(_) => return None,
    };
    let fields = field_changes(
        stored
            .map(|item| Value::Object(item.attrs.clone()))
            .as_ref(),
        Some(&Value::Object(wanted.attrs.clone())),
    );
    Some(RecordChange {
        record: name,
        action,
        fields,
        ops: vec![WriteOp::Put {
            item: wanted,
            condition,
        }],
    })
}

/// Where the file named no timestamp, the record was given `now`; a record that exists keeps
/// the one it has.
fn keep_stored_timestamps(items: &mut [(Item, Condition)], stored: &Item, now: &str) {
    for (item, _) in items.iter_mut() {
        for (field, value) in item.attrs.iter_mut() {
            if value.as_str() == Some(now)
                && let Some(kept) = stored.attrs.get(field)
            {
                *value = kept.clone();
            }
        }
    }
}

fn provisioned_lookups(item: &Item) -> Vec<Key> {
    item.attrs
        .get(PROVISIONED_LOOKUPS)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|pair| {
            let pair = pair.as_array()?;
            Some(Key {
                pk: pair.first()?.as_str()?.to_owned(),
                sk: pair.get(1)?.as_str()?.to_owned(),
            })
        })
        .collect()
}

/// The top-level fields that differ between two versions of a record, in name order.
fn field_changes(from: Option<&Value>, to: Option<&Value>) -> Vec<FieldChange> {
    let empty = Map::new();
    let from = from.and_then(Value::as_object).unwrap_or(&empty);
    let to = to.and_then(Value::as_object).unwrap_or(&empty);
    let names: BTreeMap<&String, ()> = from
        .keys()
        .chain(to.keys())
        .map(|name| (name, ()))
        .collect();
    names
        .into_keys()
        .filter(|name| from.get(*name) != to.get(*name))
        .map(|name| FieldChange {
            field: name.clone(),
            from: from.get(name).cloned(),
            to: to.get(name).cloned(),
        })
        .collect()
}
