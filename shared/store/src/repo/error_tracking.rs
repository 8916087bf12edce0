//! OpsTrace's question: does this project's integrated error tracking take events for a DSN
//! public key?

use gl_model::seed::SeedWorld;
use gl_model::{ErrorTrackingClientKey, Project, ProjectId};

use super::seed::SeedRecord;
use super::{Repository, decode, put_new};
use crate::{Item, StoreError, keys};

#[derive(Clone, Copy)]
pub struct ErrorTracking<'r> {
    pub(super) repo: &'r Repository,
}

impl ErrorTracking<'_> {
    /// A project and its error-tracking client key with this public key, in one round trip.
    pub async fn client_key(
        self,
        project_id: ProjectId,
        public_key: &str,
    ) -> Result<(Option<Project>, Option<ErrorTrackingClientKey>), StoreError> {
        let found = self
            .repo
            .get_many(&[
                keys::project(project_id),
                keys::error_tracking_key(project_id, public_key),
            ])
            .await?;
        Ok((decode(found[0].as_ref())?, decode(found[1].as_ref())?))
    }
}

/// This part's records of a seed: the projects' client keys.
pub(crate) fn seed_records(world: &SeedWorld) -> Vec<SeedRecord> {
    world
        .error_tracking_keys
        .iter()
        .map(|(project_id, client_key)| {
            SeedRecord::new(
                format!("project {project_id} error tracking key"),
                vec![put_new(Item::new(
                    keys::error_tracking_key(*project_id, &client_key.public_key),
                    client_key,
                ))],
            )
        })
        .collect()
}
