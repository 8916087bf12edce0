//! SCIM's writes: a new user with its identity, a link of an existing user, an identity's
//! change of state or of `extern_uid`, each with the membership change it brings, in one
//! transaction; and the providers a seed configures.

use gl_model::seed::SeedWorld;
use gl_model::{AccessLevel, ScimIdentity, ScimProvider, ScimScope, User, UserId};
use serde::{Deserialize, Serialize};

use super::{Membership, NewUser, ProvisioningTarget, Scim, ScimBase};
use crate::repo::identity::{sequence_write, user_writes};
use crate::repo::put_new;
use crate::repo::seed::SeedRecord;
use crate::{Condition, Item, StoreError, WriteOp, keys};

/// The item that holds a user's one identity in a partition.
#[derive(Debug, Serialize, Deserialize)]
struct UserIdentity {
    extern_uid: String,
}

fn user_identity_write(base: &ScimBase, identity: &ScimIdentity) -> WriteOp {
    put_new(Item::new(
        keys::scim_user(base.group_path(), identity.user_id),
        &UserIdentity {
            extern_uid: identity.extern_uid.clone(),
        },
    ))
}

impl Scim<'_> {
    /// The membership write a provider's identity change makes, if any.
    fn membership_write(
        provider: &ScimProvider,
        user_id: UserId,
        membership: Membership,
    ) -> Vec<WriteOp> {
        let Some(group_id) = provider.group_id() else {
            return Vec::new();
        };
        let key = keys::namespace_member(group_id, user_id);
        match membership {
            Membership::Keep => Vec::new(),
            Membership::Remove { keeping_owner } => {
                let mut ops = vec![WriteOp::Delete {
                    key,
                    condition: Condition::None,
                }];
                ops.extend(keeping_owner.map(|owner| WriteOp::Check {
                    key: keys::namespace_member(group_id, owner),
                    condition: Condition::Exists,
                }));
                ops
            }
            Membership::Ensure => vec![WriteOp::Update {
                key,
                add: Vec::new(),
                set: Vec::new(),
                set_if_absent: vec![
                    ("user_id".to_owned(), user_id.into()),
                    (
                        "access_level".to_owned(),
                        i64::from(provider.default_membership_role).into(),
                    ),
                ],
                condition: Condition::None,
            }],
        }
    }

    /// Creates a user (ids from the sequences `target` read), its identity and its group
    /// membership, in one transaction; `ConditionFailed` when the username, email, path,
    /// `extern_uid` or an id was taken since the read (nothing is written; read again).
    pub async fn provision_new_user(
        self,
        base: &ScimBase,
        provider: &ScimProvider,
        target: &ProvisioningTarget,
        extern_uid: &str,
        user: &NewUser,
    ) -> Result<ScimIdentity, StoreError> {
        let user_id = target.user_sequence.unwrap_or_default().last_id + 1;
        let namespace_id = target.namespace_sequence.unwrap_or_default().last_id + 1;
        let record = User {
            id: user_id,
            username: user.username.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            admin: false,
            state: gl_model::UserState::Active,
            two_factor_enabled: false,
            namespace_id: Some(namespace_id),
            created_at: user.created_at.clone(),
        };
        let identity = ScimIdentity {
            extern_uid: extern_uid.to_owned(),
            user_id,
            active: true,
            username: user.username.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            created_at: user.created_at.clone(),
            version: 1,
        };
        let mut ops = user_writes(&record);
        ops.push(sequence_write(
            keys::user_sequence(),
            target.user_sequence,
            user_id,
        ));
        ops.push(sequence_write(
            keys::namespace_sequence(),
            target.namespace_sequence,
            namespace_id,
        ));
        ops.push(put_new(Item::new(
            keys::scim_identity(base.group_path(), extern_uid),
            &identity,
        )));
        ops.push(user_identity_write(base, &identity));
        ops.extend(Self::membership_write(
            provider,
            user_id,
            Membership::Ensure,
        ));
        self.repo.write(ops).await?;
        Ok(identity)
    }

    /// Stores a new identity for an existing user, with its membership ensured; one
    /// transaction. `ConditionFailed` when the `extern_uid` was taken since the read, or the
    /// user has an identity here already.
    pub async fn link_identity(
        self,
        base: &ScimBase,
        provider: &ScimProvider,
        identity: &ScimIdentity,
    ) -> Result<(), StoreError> {
        let mut ops = vec![
            put_new(Item::new(
                keys::scim_identity(base.group_path(), &identity.extern_uid),
                identity,
            )),
            user_identity_write(base, identity),
        ];
        ops.extend(Self::membership_write(
            provider,
            identity.user_id,
            Membership::Ensure,
        ));
        self.repo.write(ops).await
    }

    /// Replaces an identity read at version `identity.version - 1` (its `extern_uid` may have
    /// changed: `old_extern_uid` names where it was), with the membership and, for the
    /// instance, the user's block state changed alongside; one transaction. `ConditionFailed`
    /// when someone changed the identity since, or the new `extern_uid` is taken.
    pub async fn update_identity(
        self,
        base: &ScimBase,
        provider: &ScimProvider,
        old_extern_uid: &str,
        identity: &ScimIdentity,
        membership: Membership,
        blocked: Option<bool>,
    ) -> Result<(), StoreError> {
        let old_key = keys::scim_identity(base.group_path(), old_extern_uid);
        let new_key = keys::scim_identity(base.group_path(), &identity.extern_uid);
        let read_version = Condition::VersionEquals(identity.version - 1);
        let mut ops = if old_key == new_key {
            vec![WriteOp::Put {
                item: Item::new(new_key, identity),
                condition: read_version,
            }]
        } else {
            vec![
                WriteOp::Delete {
                    key: old_key,
                    condition: read_version,
                },
                put_new(Item::new(new_key, identity)),
                WriteOp::Put {
                    item: Item::new(
                        keys::scim_user(base.group_path(), identity.user_id),
                        &UserIdentity {
                            extern_uid: identity.extern_uid.clone(),
                        },
                    ),
                    condition: Condition::None,
                },
            ]
        };
        ops.extend(Self::membership_write(
            provider,
            identity.user_id,
            membership,
        ));
        if let Some(blocked) = blocked {
            let state = if blocked {
                gl_model::UserState::Blocked
            } else {
                gl_model::UserState::Active
            };
            ops.push(WriteOp::Update {
                key: keys::user(identity.user_id),
                add: Vec::new(),
                set: vec![(
                    "state".to_owned(),
                    serde_json::to_value(state).map_err(|e| StoreError::Other(e.to_string()))?,
                )],
                set_if_absent: Vec::new(),
                condition: Condition::Exists,
            });
        }
        self.repo.write(ops).await
    }
}

/// This part's records of a seed: each SCIM token's group (or the instance) gets its SAML
/// provider, with the group's default membership role.
pub(crate) fn seed_records(world: &SeedWorld) -> Vec<SeedRecord> {
    world
        .scim_tokens
        .iter()
        .filter_map(|token| {
            let (path, provider) = match token.scope {
                ScimScope::Group { group_id } => {
                    let group = world.groups.iter().find(|group| group.id == group_id)?;
                    (
                        Some(group.full_path.as_str()),
                        ScimProvider {
                            scope: token.scope.clone(),
                            group_name: group.name.clone(),
                            default_membership_role: group.default_membership_role,
                        },
                    )
                }
                ScimScope::Instance => (
                    None,
                    ScimProvider {
                        scope: ScimScope::Instance,
                        group_name: String::new(),
                        default_membership_role: AccessLevel::Guest,
                    },
                ),
            };
            Some(SeedRecord::new(
                format!("SCIM provider of {}", path.unwrap_or("the instance")),
                vec![put_new(Item::new(keys::scim_provider(path), &provider))],
            ))
        })
        .collect()
}
