//! Compute minute packs (`Ci::Minutes::AdditionalPack`): created by CustomersDot once per
//! `purchase_xid` (unique on GitLab.com, whichever namespace holds the pack), and moved all
//! together from one namespace to another.

use std::collections::{HashMap, HashSet};

use gl_model::{AdditionalPack, Namespace, NamespaceId};
use serde::{Deserialize, Serialize};

use super::Billing;
use crate::repo::put_new;
use crate::{Condition, Item, MAX_WRITE_ITEMS, StoreError, WriteOp, keys};

/// How many new packs one create may store: each is a pack and its purchase in one
/// transaction.
pub const MAX_PACKS_PER_CREATE: usize = MAX_WRITE_ITEMS / 2;

/// How many packs one move may carry: each is a delete and a put in one transaction.
pub const MAX_PACKS_PER_MOVE: usize = MAX_WRITE_ITEMS / 2;

/// The item that holds a `purchase_xid` taken, wherever its pack is.
#[derive(Debug, Serialize, Deserialize)]
struct PackPurchase {
    purchase_xid: String,
}

/// A namespace with what it holds of the purchases a create names, read in one round.
#[derive(Debug, Clone)]
pub struct PacksTarget {
    pub namespace: Option<Namespace>,
    /// The namespace's packs among the purchases asked about.
    held: HashMap<String, AdditionalPack>,
    /// The purchases asked about that have a pack, here or in another namespace.
    taken: HashSet<String>,
}

impl PacksTarget {
    /// `find_by(namespace:, purchase_xid:)`.
    pub fn find(&self, purchase_xid: &str) -> Option<&AdditionalPack> {
        self.held.get(purchase_xid)
    }

    /// Whether another namespace holds the pack of `purchase_xid` (so a new one would break
    /// its uniqueness).
    pub fn taken_elsewhere(&self, purchase_xid: &str) -> bool {
        self.taken.contains(purchase_xid) && !self.held.contains_key(purchase_xid)
    }
}

/// Both namespaces of a move, with every pack of the source, read in one round.
#[derive(Debug, Clone)]
pub struct MinutesMove {
    pub source: Option<Namespace>,
    pub target: Option<Namespace>,
    pub packs: Vec<AdditionalPack>,
}

impl Billing<'_> {
    /// Namespace `id`, its packs of the purchases `purchase_xids` and which of those are
    /// taken anywhere, in one read.
    pub async fn additional_packs_target(
        self,
        id: Option<NamespaceId>,
        purchase_xids: &[&str],
    ) -> Result<PacksTarget, StoreError> {
        let mut target = PacksTarget {
            namespace: None,
            held: HashMap::new(),
            taken: HashSet::new(),
        };
        let Some(id) = id else {
            return Ok(target);
        };
        let purchase_xids: Vec<&str> = purchase_xids
            .iter()
            .copied()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let wanted: Vec<_> = purchase_xids
            .iter()
            .flat_map(|xid| {
                [
                    keys::additional_pack(id, xid),
                    keys::additional_pack_purchase(xid),
                ]
            })
            .collect();
        let (namespace, found) = self.namespace_with(id, &wanted).await?;
        target.namespace = namespace;
        for (xid, pair) in purchase_xids.iter().zip(found.chunks(2)) {
            if let Some(pack) = pair[0].as_ref() {
                target.held.insert((*xid).to_owned(), pack.decode()?);
            }
            if pair[1].is_some() {
                target.taken.insert((*xid).to_owned());
            }
        }
        Ok(target)
    }

    /// Both namespaces and every pack of the source: the namespace reads and the query of
    /// the source's packs go out together.
    pub async fn minutes_move(
        self,
        source: Option<NamespaceId>,
        target: Option<NamespaceId>,
    ) -> Result<MinutesMove, StoreError> {
        let namespace = |id: Option<NamespaceId>| async move {
            match id {
                Some(id) => Ok(self.namespace_with(id, &[]).await?.0),
                None => Ok::<_, StoreError>(None),
            }
        };
        let packs = async {
            match source {
                Some(id) => {
                    let partition = keys::additional_packs_partition(id);
                    let items = self.repo.query_all(&partition, keys::PACK_PREFIX).await?;
                    items.iter().map(Item::decode).collect()
                }
                None => Ok(Vec::new()),
            }
        };
        let (source, target, packs) = tokio::join!(namespace(source), namespace(target), packs);
        Ok(MinutesMove {
            source: source?,
            target: target?,
            packs: packs?,
        })
    }

    /// Stores `packs` (new purchases of one namespace, at most [`MAX_PACKS_PER_CREATE`]) in one
    /// transaction, each with its purchase, only if no pack of the purchase exists anywhere:
    /// `ConditionFailed` when a concurrent create stored one first (nothing is stored; read
    /// again).
    pub async fn create_additional_packs(self, packs: &[AdditionalPack]) -> Result<(), StoreError> {
        let ops = packs
            .iter()
            .flat_map(|pack| {
                [
                    put_new(Item::new(
                        keys::additional_pack(pack.namespace_id, &pack.purchase_xid),
                        pack,
                    )),
                    put_new(Item::new(
                        keys::additional_pack_purchase(&pack.purchase_xid),
                        &PackPurchase {
                            purchase_xid: pack.purchase_xid.clone(),
                        },
                    )),
                ]
            })
            .collect();
        self.repo.write(ops).await
    }

    /// Moves every pack `read` found in the source to the target, in one transaction (at
    /// most [`MAX_PACKS_PER_MOVE`] packs): each is deleted from the source if still there and
    /// stored in the target. `ConditionFailed` when a pack left the source since the read
    /// (nothing moved; read again).
    pub async fn move_additional_packs(self, read: &MinutesMove) -> Result<(), StoreError> {
        let (Some(source), Some(target)) = (&read.source, &read.target) else {
            return Err(StoreError::Other("a move needs both namespaces".to_owned()));
        };
        let ops: Vec<WriteOp> = read
            .packs
            .iter()
            .flat_map(|pack| {
                let moved = AdditionalPack {
                    namespace_id: target.id,
                    ..pack.clone()
                };
                [
                    WriteOp::Delete {
                        key: keys::additional_pack(source.id, &pack.purchase_xid),
                        condition: Condition::Exists,
                    },
                    put_new(Item::new(
                        keys::additional_pack(target.id, &pack.purchase_xid),
                        &moved,
                    )),
                ]
            })
            .collect();
        self.repo.write(ops).await
    }
}
