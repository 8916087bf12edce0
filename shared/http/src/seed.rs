//! Seed documents: validated whole, tokens digested as the store keeps them, then written. The
//! local server's `--seed`, `provision import-seed`, `apply` and `export`, and the Lambda handler
//! tests, all go through here.

use std::collections::BTreeMap;
use std::sync::Arc;

use gl_model::seed::{self, SeedError};
use gl_store::embedded::EmbeddedStore;
use gl_store::repo::provisioning::{ApplyError, Plan};
use gl_store::repo::{ImportError, ImportReport};
use gl_store::{Repository, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum SeedImportError {
    /// A bad field: nothing was written.
    #[error(transparent)]
    Invalid(SeedError),
    #[error(transparent)]
    Store(ImportError),
}

/// Validates a whole seed document, then writes it; a bad field imports nothing.
pub async fn import(repo: &Repository, bytes: &[u8]) -> Result<ImportReport, SeedImportError> {
    let now = gl_model::gitlab_timestamp(chrono::Utc::now());
    let world =
        seed::parse(bytes, &now, &gl_auth::token_digest).map_err(SeedImportError::Invalid)?;
    repo.seeding()
        .import(world)
        .await
        .map_err(SeedImportError::Store)
}

/// What applying a world document would change (with `prune`, deleting what provisioning
/// wrote that the document no longer has); a bad field plans nothing.
pub async fn plan(repo: &Repository, bytes: &[u8], prune: bool) -> Result<Plan, SeedPlanError> {
    let now = gl_model::gitlab_timestamp(chrono::Utc::now());
    let world = seed::parse(bytes, &now, &gl_auth::token_digest).map_err(SeedPlanError::Invalid)?;
    repo.provisioning()
        .plan(&world, &now, prune)
        .await
        .map_err(SeedPlanError::Store)
}

/// The world provisioning manages, as a document in the seed format (tokens as their
/// digests, Gitaly's token left out), and what it left out because the service made it.
pub async fn export(
    repo: &Repository,
) -> Result<(String, BTreeMap<&'static str, usize>), StoreError> {
    let export = repo.provisioning().export().await?;
    let document = serde_json::to_string_pretty(&export.world.to_file())
        .map_err(|err| StoreError::Other(err.to_string()))?;
    Ok((document + "\n", export.left_out))
}

#[derive(Debug, thiserror::Error)]
pub enum SeedPlanError {
    /// A bad field: nothing is planned.
    #[error(transparent)]
    Invalid(SeedError),
    #[error(transparent)]
    Store(ApplyError),
}

/// A fresh in-memory embedded store holding this seed.
pub async fn in_memory_store(seed: &str) -> Result<Arc<dyn Store>, SeedImportError> {
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::in_memory());
    import(&Repository::new(Arc::clone(&store)), seed.as_bytes()).await?;
    Ok(store)
}
