//! What GitLab Shell and Gitaly's hooks keep between calls: the per-repository reference
//! counter of pushes in flight, LFS tokens, and two-factor recovery codes.

use gl_model::{ProjectId, UserId};
use serde::{Deserialize, Serialize};

use super::{Repository, put, put_new};
use crate::{Condition, Item, StoreError, TTL_ATTRIBUTE, WriteOp, keys};

/// `Gitlab::ReferenceCounter::REFERENCE_EXPIRE_TIME`.
pub const REFERENCE_COUNTER_TTL_SECONDS: i64 = 600;
const REFERENCE_COUNT: &str = "count";

/// An LFS token as stored: whom and which project it is for (`LFSTOKEN#<digest>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LfsToken {
    pub actor: String,
    pub project_id: ProjectId,
}

/// A token about to be handed out: its digest and its expiry (epoch seconds), after which the
/// item is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLfsToken {
    pub digest: String,
    pub expires_at: i64,
}

impl NewLfsToken {
    pub(crate) fn write(&self, actor: &str, project_id: ProjectId) -> WriteOp {
        let record = LfsToken {
            actor: actor.to_owned(),
            project_id,
        };
        put_new(
            Item::new(keys::lfs_token(&self.digest), &record).with(TTL_ATTRIBUTE, self.expires_at),
        )
    }
}

/// A user's 2FA recovery codes, as digests only (`RECOVERY#<user id>` / `RECOVERY`: a partition of its own, so the shell
/// function may write them without being able to write a user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RecoveryCodes {
    user_id: UserId,
    #[serde(default)]
    code_digests: Vec<String>,
}

#[derive(Clone, Copy)]
pub struct Shell<'r> {
    pub(super) repo: &'r Repository,
}

impl Shell<'_> {
    /// `Gitlab::ReferenceCounter#increase`: count up and keep the counter alive 600 s more.
    pub async fn increase_reference_counter(self, gl_repository: &str) -> Result<(), StoreError> {
        let expires = chrono::Utc::now().timestamp() + REFERENCE_COUNTER_TTL_SECONDS;
        self.repo
            .write(vec![WriteOp::Update {
                key: keys::reference_counter(gl_repository),
                add: vec![(REFERENCE_COUNT.to_owned(), 1.into())],
                set: vec![(TTL_ATTRIBUTE.to_owned(), expires.into())],
                set_if_absent: Vec::new(),
                condition: Condition::None,
            }])
            .await
    }

    /// `Gitlab::ReferenceCounter#decrease`: count down, never below zero (GitLab deletes a
    /// counter that went negative; here the decrement is simply not applied).
    pub async fn decrease_reference_counter(self, gl_repository: &str) -> Result<(), StoreError> {
        let decrement = WriteOp::Update {
            key: keys::reference_counter(gl_repository),
            add: vec![(REFERENCE_COUNT.to_owned(), (-1).into())],
            set: Vec::new(),
            set_if_absent: Vec::new(),
            condition: Condition::NumberAbove(REFERENCE_COUNT, 0),
        };
        match self.repo.write(vec![decrement]).await {
            Err(StoreError::ConditionFailed) => {
                tracing::warn!(
                    gl_repository,
                    "reference counter would go below zero; left at zero"
                );
                Ok(())
            }
            done => done,
        }
    }

    pub async fn reference_counter(self, gl_repository: &str) -> Result<i64, StoreError> {
        Ok(self
            .repo
            .get_item(keys::reference_counter(gl_repository))
            .await?
            .and_then(|item| item.number(REFERENCE_COUNT))
            .unwrap_or(0))
    }

    /// The LFS token with this digest, unexpired.
    pub async fn lfs_token(self, digest: &str) -> Result<Option<LfsToken>, StoreError> {
        self.repo.get(keys::lfs_token(digest)).await
    }

    /// Replaces a user's 2FA recovery codes with these digests (`generate_otp_backup_codes!`).
    pub async fn replace_recovery_codes(
        self,
        user_id: UserId,
        digests: &[String],
    ) -> Result<(), StoreError> {
        let record = RecoveryCodes {
            user_id,
            code_digests: digests.to_vec(),
        };
        self.repo
            .write(vec![put(Item::new(keys::recovery_codes(user_id), &record))])
            .await
    }

    pub async fn recovery_code_digests(self, user_id: UserId) -> Result<Vec<String>, StoreError> {
        let codes: Option<RecoveryCodes> = self.repo.get(keys::recovery_codes(user_id)).await?;
        Ok(codes.map(|codes| codes.code_digests).unwrap_or_default())
    }
}
