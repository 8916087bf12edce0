//! What the shell family asks Gitaly: whether a push rewrites history. GitLab tells a force
//! push by asking Gitaly's `CommitService.CommitIsAncestor` whether the old revision is an
//! ancestor of the new one, in the repository as the push sees it (its quarantine object
//! directories included). The client is generated from Gitaly's own protocol definitions
//! (`build.rs`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use gl_model::{GitalyRepository, GitalySettings};

/// Gitaly's generated messages and services (`package gitaly`).
#[allow(clippy::all, missing_docs, unreachable_pub)]
pub mod proto {
    tonic::include_proto!("gitaly");
}

use proto::commit_service_client::CommitServiceClient;

/// How long one question to Gitaly may take, connection included: well inside the
/// function's timeout, so a slow Gitaly gives the refusal, not a gateway error.
pub const DEADLINE: Duration = Duration::from_secs(3);

#[async_trait]
pub trait Ancestry: Send + Sync + 'static {
    /// Whether `ancestor` is an ancestor of `descendant` in `repository` (`false`: a force
    /// push), or why Gitaly could not tell.
    async fn is_ancestor(
        &self,
        gitaly: &GitalySettings,
        repository: &GitalyRepository,
        ancestor: &str,
        descendant: &str,
    ) -> Result<bool, String>;
}

/// Gitaly over gRPC: one channel per address, made on first use and kept for the warm
/// function's life (a channel reconnects by itself).
#[derive(Default)]
pub struct GitalyClient {
    channels: Mutex<HashMap<String, Channel>>,
}

impl std::fmt::Debug for GitalyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitalyClient").finish_non_exhaustive()
    }
}

impl GitalyClient {
    /// The channel to `address` (`tcp://host:port`, `tls://host:port`, `unix:/path`),
    /// connecting lazily.
    fn channel(&self, address: &str) -> Result<Channel, String> {
        if let Some(channel) = self
            .channels
            .lock()
            .map_err(|_| "Gitaly client state poisoned".to_owned())?
            .get(address)
        {
            return Ok(channel.clone());
        }
        let channel = connect(address)?;
        if let Ok(mut channels) = self.channels.lock() {
            channels.insert(address.to_owned(), channel.clone());
        }
        Ok(channel)
    }
}

fn connect(address: &str) -> Result<Channel, String> {
    let invalid = |err: &dyn std::fmt::Display| format!("Gitaly address {address:?}: {err}");
    if let Some(path) = address.strip_prefix("unix:") {
        let path = path.trim_start_matches("//").to_owned();
        // The URI is not used for a Unix socket; the connector opens the path.
        let endpoint = Endpoint::from_static("http://gitaly.invalid")
            .connect_timeout(DEADLINE)
            .timeout(DEADLINE);
        return Ok(
            endpoint.connect_with_connector_lazy(tower::service_fn(move |_| {
                let path = path.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(path).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                }
            })),
        );
    }
    let (uri, tls) = if let Some(rest) = address.strip_prefix("tcp://") {
        (format!("http://{rest}"), false)
    } else if let Some(rest) = address.strip_prefix("tls://") {
        (format!("https://{rest}"), true)
    } else {
        return Err(invalid(&"not tcp://, tls:// or unix:"));
    };
    let mut endpoint = Endpoint::from_shared(uri)
        .map_err(|err| invalid(&err))?
        .connect_timeout(DEADLINE)
        .timeout(DEADLINE);
    if tls {
        endpoint = endpoint
            .tls_config(ClientTlsConfig::new().with_native_roots())
            .map_err(|err| invalid(&err))?;
    }
    Ok(endpoint.connect_lazy())
}

/// Whether something accepts connections at Gitaly `address` (for the local server's start:
/// a configuration whose Gitaly cannot be reached refuses protected-branch updates).
pub async fn reachable(address: &str) -> Result<(), String> {
    let connecting = async {
        if let Some(path) = address.strip_prefix("unix:") {
            tokio::net::UnixStream::connect(path.trim_start_matches("//"))
                .await
                .map(drop)
        } else {
            let host = address
                .strip_prefix("tcp://")
                .or_else(|| address.strip_prefix("tls://"))
                .ok_or_else(|| std::io::Error::other("not tcp://, tls:// or unix:"))?;
            tokio::net::TcpStream::connect(host).await.map(drop)
        }
    };
    match tokio::time::timeout(DEADLINE, connecting).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!("no answer within {DEADLINE:?}")),
    }
}

/// Gitaly's v2 token authentication: `v2.<hex HMAC-SHA256 of the timestamp, keyed by the
/// token>.<Unix timestamp>`, which Gitaly accepts within its clock-skew window.
pub fn v2_token(token: &str, now: i64) -> String {
    let timestamp = now.to_string();
    let mut mac =
        Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    format!(
        "v2.{}.{timestamp}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[async_trait]
impl Ancestry for GitalyClient {
    async fn is_ancestor(
        &self,
        gitaly: &GitalySettings,
        repository: &GitalyRepository,
        ancestor: &str,
        descendant: &str,
    ) -> Result<bool, String> {
        if gitaly.address.trim().is_empty() {
            return Err("no Gitaly address is configured".to_owned());
        }
        let channel = self.channel(&gitaly.address)?;
        let mut request = tonic::Request::new(proto::CommitIsAncestorRequest {
            repository: Some(proto::Repository {
                storage_name: repository.storage_name.clone(),
                relative_path: repository.relative_path.clone(),
                git_object_directory: repository.git_object_directory.clone(),
                git_alternate_object_directories: repository
                    .git_alternate_object_directories
                    .clone(),
                gl_repository: repository.gl_repository.clone(),
                gl_project_path: repository.gl_project_path.clone(),
            }),
            ancestor_id: ancestor.to_owned(),
            child_id: descendant.to_owned(),
        });
        request.set_timeout(DEADLINE);
        if !gitaly.token.is_empty() {
            let bearer = format!(
                "Bearer {}",
                v2_token(gitaly.token.expose(), chrono::Utc::now().timestamp())
            );
            let value = bearer
                .parse()
                .map_err(|_| "the Gitaly token is not a valid header value".to_owned())?;
            request.metadata_mut().insert("authorization", value);
        }
        let asked = tokio::time::timeout(
            DEADLINE,
            CommitServiceClient::new(channel).commit_is_ancestor(request),
        )
        .await;
        match asked {
            Ok(Ok(response)) => Ok(response.into_inner().value),
            Ok(Err(status)) => Err(format!(
                "Gitaly answered {:?}: {}",
                status.code(),
                status.message()
            )),
            Err(_) => Err(format!("Gitaly did not answer within {DEADLINE:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_tokens_sign_the_timestamp() {
        let token = v2_token("secret", 1_700_000_000);
        let (scheme, rest) = token.split_once('.').unwrap();
        let (signature, timestamp) = rest.split_once('.').unwrap();
        assert_eq!((scheme, timestamp), ("v2", "1700000000"));
        assert_eq!(signature.len(), 64);
        assert_ne!(token, v2_token("other", 1_700_000_000));
    }

    #[tokio::test]
    async fn addresses_gitlab_accepts() {
        assert!(connect("tcp://gitaly.internal:8075").is_ok());
        assert!(connect("unix:/var/opt/gitlab/gitaly/gitaly.socket").is_ok());
        assert!(connect("http://gitaly:8075").is_err());
    }
}
