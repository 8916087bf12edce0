//! What CustomersDot and the GitLab.com Admin Area keep per namespace: its GitLab
//! subscription, add-on purchases, compute minute packs, upcoming reconciliation, and storage
//! limit exclusion. Columns keep GitLab's names; dates are `YYYY-MM-DD` as GitLab renders its
//! `date` columns.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::NamespaceId;

/// `Namespaces::Storage::LimitExclusion`: a root namespace the GitLab.com storage limit does
/// not apply to, with why. At most one per namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageLimitExclusion {
    pub id: i64,
    pub namespace_id: NamespaceId,
    /// The namespace's name when the exclusion was made: GitLab renders it live, and names do
    /// not change in this service (nothing renames a namespace).
    pub namespace_name: String,
    pub reason: String,
}

/// `GitlabSubscription` (`ee/app/models/gitlab_subscription.rb`): a namespace's plan, seats
/// and term, as CustomersDot sets them. At most one per namespace. Columns keep GitLab's
/// names; `plan_code` is the plan's name (`hosted_plan.name`), kept even when it names no
/// plan GitLab knows (GitLab then stores no plan: such a subscription renders null plan
/// fields, as here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitlabSubscription {
    pub namespace_id: NamespaceId,
    #[serde(default)]
    pub plan_code: Option<String>,
    /// `seats`, `NOT NULL DEFAULT 0`.
    pub seats: i64,
    /// The stored `seats_in_use` column; only paid, non-trial subscriptions show it.
    pub seats_in_use: i64,
    pub max_seats_used: i64,
    pub start_date: chrono::NaiveDate,
    #[serde(default)]
    pub end_date: Option<chrono::NaiveDate>,
    #[serde(default)]
    pub auto_renew: Option<bool>,
    pub trial: bool,
    #[serde(default)]
    pub trial_starts_on: Option<chrono::NaiveDate>,
    #[serde(default)]
    pub trial_ends_on: Option<chrono::NaiveDate>,
    /// 1 extended, 2 reactivated.
    #[serde(default)]
    pub trial_extension_type: Option<i64>,
    #[serde(default)]
    pub max_seats_used_changed_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Bumped by every write: concurrent updates are conditioned on it, so none is lost.
    pub version: i64,
}

/// `GitlabSubscriptions::AddOn`'s names: what `/subscription_add_on_purchase/:add_on_name`
/// accepts. GitLab's enum differs between releases (its fifth and sixth names have been
/// `duo_nano`, `duo_core`, `duo_self_hosted` and `self_hosted_dap`; `gitlab_credits` is the
/// newest); every name one of them knows is accepted.
pub const ADD_ON_NAMES: &[&str] = &[
    "code_suggestions",
    "product_analytics",
    "duo_enterprise",
    "duo_amazon_q",
    "duo_core",
    "duo_nano",
    "duo_self_hosted",
    "self_hosted_dap",
    "gitlab_credits",
];

/// `GitlabSubscriptions::AddOnPurchase`: how many seats of one add-on a namespace bought, for
/// which term. At most one per namespace and add-on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddOnPurchase {
    pub namespace_id: NamespaceId,
    /// The add-on's name, one of [`ADD_ON_NAMES`].
    pub add_on: String,
    pub quantity: i64,
    pub started_on: NaiveDate,
    pub expires_on: NaiveDate,
    pub purchase_xid: String,
    pub trial: bool,
    pub created_at: String,
    pub updated_at: String,
    /// Bumped by every write: concurrent updates are conditioned on it, so none is lost.
    pub version: i64,
}

/// `Ci::Minutes::AdditionalPack`: compute minutes a namespace bought, until they expire. One
/// per `purchase_xid` (unique on GitLab.com), wherever a move has taken it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdditionalPack {
    pub namespace_id: NamespaceId,
    pub expires_at: NaiveDate,
    pub number_of_minutes: i64,
    pub purchase_xid: String,
    pub created_at: String,
}

/// `GitlabSubscriptions::UpcomingReconciliation`: when a namespace's seats are next
/// reconciled, and from when GitLab shows the alert. One per namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpcomingReconciliation {
    pub namespace_id: NamespaceId,
    pub next_reconciliation_date: NaiveDate,
    pub display_alert_from: NaiveDate,
    /// When CustomersDot last upserted it.
    pub updated_at: String,
}
