//! The local server: every family router merged on GitLab's paths, over the embedded store or a
//! DynamoDB endpoint, plus seed import. `main.rs` is the command line around this.

pub mod apply;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;

use gl_http::{AppState, InstanceInfo};
use gl_model::seed;
use gl_store::repo::{ImportError, ImportReport};
use gl_store::{Repository, Store};

/// The demo world loaded into an empty store when no `--seed` is given.
pub const DEMO_SEED: &str = include_str!("../demo-seed.json");

/// Every family router merged, with GitLab's answers for unknown paths and methods: what the
/// local server serves and what the black-box tests drive.
pub fn app(state: AppState) -> Router {
    gl_http::with_gitlab_fallbacks(
        Router::new()
            .merge(shell::router(state.clone()))
            .merge(kas::router(state.clone()))
            .merge(admin::router(state.clone()))
            .merge(billing::router(state.clone()))
            .merge(scim::router(state.clone()))
            .merge(error_tracking::router(state)),
    )
}

/// State for the local server and tests: the given store and GitLab Shell secret.
pub fn state(store: Arc<dyn Store>, shell_secret: &[u8]) -> AppState {
    AppState::new(
        store,
        Some(shell_secret),
        InstanceInfo::from_lookup(&|name| std::env::var(name).ok()),
    )
}

#[derive(Debug, thiserror::Error)]
pub enum SeedImportError {
    #[error("cannot read seed file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("seed file {path}: {source}")]
    Invalid {
        path: PathBuf,
        source: seed::SeedError,
    },
    #[error("seed file {path}: {source}")]
    Store { path: PathBuf, source: ImportError },
}

/// Validates a whole seed document, then writes it; a bad field imports nothing.
pub async fn import_seed_bytes(
    repo: &Repository,
    bytes: &[u8],
    path: &Path,
) -> Result<ImportReport, SeedImportError> {
    gl_http::seed::import(repo, bytes)
        .await
        .map_err(|err| match err {
            gl_http::seed::SeedImportError::Invalid(source) => SeedImportError::Invalid {
                path: path.to_owned(),
                source,
            },
            gl_http::seed::SeedImportError::Store(source) => SeedImportError::Store {
                path: path.to_owned(),
                source,
            },
        })
}

pub async fn import_seed_file(
    repo: &Repository,
    path: &Path,
) -> Result<ImportReport, SeedImportError> {
    let bytes = std::fs::read(path).map_err(|err| SeedImportError::Read {
        path: path.to_owned(),
        reason: err.to_string(),
    })?;
    import_seed_bytes(repo, &bytes, path).await
}

/// Reads a secret file, or creates it with `generate()` when absent, as GitLab does on first
/// start. Created files are readable by their owner only.
pub fn secret_file(
    path: &Path,
    create: bool,
    generate: impl FnOnce() -> String,
) -> std::io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && create => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let secret = generate();
            write_private(path, secret.as_bytes())?;
            Ok(secret.into_bytes())
        }
        Err(err) => Err(err),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}
