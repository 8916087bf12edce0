//! Typed access to the store, written once over the port: every endpoint reads and writes
//! records through here, never through raw keys.

use std::sync::Arc;

use gl_model::seed::SeedWorld;
use gl_model::{Settings, SshKey, User, UserId};
use serde::{Deserialize, Serialize};

use crate::{Condition, Item, Key, Store, StoreError, WriteOp, keys};

/// `ROUTE#...` items: GitLab's `routes` table, one full path to one namespace or project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub source_type: RouteSource,
    pub source_id: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RouteSource {
    Namespace,
    Project,
}

/// `USERNAME#...` items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsernameLookup {
    pub user_id: UserId,
}

/// A user's personal namespace (`NAMESPACE#<id>` / `USERNS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserNamespace {
    pub id: i64,
    pub path: String,
    pub user_id: UserId,
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

#[derive(Clone)]
pub struct Repository {
    store: Arc<dyn Store>,
}

impl Repository {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    async fn get_one<T: serde::de::DeserializeOwned>(
        &self,
        key: Key,
    ) -> Result<Option<T>, StoreError> {
        match self.store.get_many(&[key]).await?.pop().flatten() {
            Some(item) => item.decode().map(Some),
            None => Ok(None),
        }
    }

    fn settings_from(item: Option<&Item>) -> Result<Settings, StoreError> {
        item.map_or_else(|| Ok(Settings::default()), Item::decode)
    }

    pub async fn settings(&self) -> Result<Settings, StoreError> {
        Self::settings_from(self.get_one_item(keys::settings()).await?.as_ref())
    }

    async fn get_one_item(&self, key: Key) -> Result<Option<Item>, StoreError> {
        Ok(self.store.get_many(&[key]).await?.pop().flatten())
    }

    /// The authentication-capable key with this SHA-256 fingerprint, and the instance settings
    /// (for the publishable key's host), in one round trip.
    pub async fn key_by_fingerprint_with_settings(
        &self,
        fingerprint_sha256: &str,
    ) -> Result<(Option<SshKey>, Settings), StoreError> {
        let found = self
            .store
            .get_many(&[keys::key_fingerprint(fingerprint_sha256), keys::settings()])
            .await?;
        let key = found[0].as_ref().map(Item::decode::<SshKey>).transpose()?;
        let settings = Self::settings_from(found[1].as_ref())?;
        Ok((key.filter(|k| k.usage_type.authenticates()), settings))
    }

    /// An authentication-capable key by id (`Key.auth.find_by_id`).
    pub async fn auth_key_by_id(&self, id: i64) -> Result<Option<SshKey>, StoreError> {
        let key: Option<SshKey> = self.get_one(keys::ssh_key(id)).await?;
        Ok(key.filter(|k| k.usage_type.authenticates()))
    }

    pub async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.get_one(keys::user(id)).await
    }

    /// `User.find_by_username`, case-insensitive like GitLab's.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let Some(lookup) = self
            .get_one::<UsernameLookup>(keys::username(username))
            .await?
        else {
            return Ok(None);
        };
        self.user_by_id(lookup.user_id).await
    }

    /// Writes a validated seed. Each record goes in one transaction with its lookups, each
    /// conditioned on not existing: a record already present is left as it is (so importing
    /// the same file twice changes nothing), and a lookup taken by another record is a conflict.
    pub async fn import_seed(&self, world: SeedWorld) -> Result<ImportReport, ImportError> {
        let put = |item: Item| WriteOp::Put {
            item,
            condition: Condition::NotExists,
        };
        let mut batches: Vec<(String, Vec<WriteOp>)> = Vec::new();

        for user in &world.users {
            let mut ops = vec![
                put(Item::new(keys::user(user.id), user)),
                put(Item::new(
                    keys::username(&user.username),
                    &UsernameLookup { user_id: user.id },
                )),
            ];
            if let Some(ns) = user.namespace_id {
                let namespace = UserNamespace {
                    id: ns,
                    path: user.username.clone(),
                    user_id: user.id,
                };
                ops.push(put(Item::new(keys::user_namespace(ns), &namespace)));
                ops.push(put(Item::new(
                    keys::route(&user.username),
                    &Route {
                        source_type: RouteSource::Namespace,
                        source_id: ns,
                    },
                )));
            }
            batches.push((format!("user {}", user.id), ops));
        }
        for group in &world.groups {
            batches.push((
                format!("group {}", group.id),
                vec![
                    put(Item::new(keys::group(group.id), group)),
                    put(Item::new(
                        keys::route(&group.full_path),
                        &Route {
                            source_type: RouteSource::Namespace,
                            source_id: group.id,
                        },
                    )),
                ],
            ));
        }
        for (namespace_id, member) in &world.group_members {
            batches.push((
                format!("group {namespace_id} member {}", member.user_id),
                vec![put(Item::new(
                    keys::namespace_member(*namespace_id, member.user_id),
                    member,
                ))],
            ));
        }
        for project in &world.projects {
            batches.push((
                format!("project {}", project.id),
                vec![
                    put(Item::new(keys::project(project.id), project)),
                    put(Item::new(
                        keys::route(&project.full_path),
                        &Route {
                            source_type: RouteSource::Project,
                            source_id: project.id,
                        },
                    )),
                ],
            ));
        }
        for (project_id, member) in &world.project_members {
            batches.push((
                format!("project {project_id} member {}", member.user_id),
                vec![put(Item::new(
                    keys::project_member(*project_id, member.user_id),
                    member,
                ))],
            ));
        }
        for key in &world.keys {
            batches.push((
                format!("key {}", key.id),
                vec![
                    put(Item::new(keys::ssh_key(key.id), key)),
                    put(Item::new(
                        keys::key_fingerprint(&key.fingerprint_sha256),
                        key,
                    )),
                ],
            ));
        }
        for agent in &world.agents {
            batches.push((
                format!("agent {}", agent.id),
                vec![
                    put(Item::new(keys::agent(agent.id), agent)),
                    put(Item::new(keys::agent_token(&agent.token_digest), agent)),
                ],
            ));
        }
        for token in &world.personal_access_tokens {
            batches.push((
                format!("personal access token {}", token.id),
                vec![
                    put(Item::new(keys::personal_access_token(token.id), token)),
                    put(Item::new(
                        keys::personal_access_token_digest(&token.token_digest),
                        token,
                    )),
                ],
            ));
        }
        for (i, token) in world.scim_tokens.iter().enumerate() {
            batches.push((
                format!("scim token {i}"),
                vec![put(Item::new(keys::scim_token(&token.token_digest), token))],
            ));
        }

        let mut report = ImportReport::default();
        if let Some(settings) = &world.settings {
            let current = self.get_one_item(keys::settings()).await?;
            if current
                .as_ref()
                .map(Item::decode::<Settings>)
                .transpose()?
                .as_ref()
                != Some(settings)
            {
                self.store
                    .write(vec![WriteOp::Put {
                        item: Item::new(keys::settings(), settings),
                        condition: Condition::None,
                    }])
                    .await?;
                report.written += 1;
            } else {
                report.already_present += 1;
            }
        }
        for (record, ops) in batches {
            let primary = ops[0].key().clone();
            match self.store.write(ops).await {
                Ok(()) => report.written += 1,
                Err(StoreError::ConditionFailed) => {
                    if self.get_one_item(primary).await?.is_some() {
                        report.already_present += 1;
                    } else {
                        return Err(ImportError::Conflict { record });
                    }
                }
                Err(err) => return Err(err.into()),
            }
        }
        self.store
            .write(vec![WriteOp::Put {
                item: Item::new(keys::seed_marker(), &serde_json::json!({"seeded": true})),
                condition: Condition::None,
            }])
            .await?;
        Ok(report)
    }

    /// Whether any seed was ever imported: the local server loads its demo world only into a
    /// store that has none.
    pub async fn has_been_seeded(&self) -> Result<bool, StoreError> {
        Ok(self.get_one_item(keys::seed_marker()).await?.is_some())
    }
}
