//! Configuration, read once at start from the environment. A missing or unreadable setting
//! stops the process with a message naming the variable, before any request is served.

use std::path::PathBuf;
use std::time::Duration;

use gl_store::dynamodb::{DynamoConfig, Timeouts};

use crate::InstanceInfo;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} must be set")]
    Missing(&'static str),
    #[error("{name} must be set (or {file_name}, a path to a file holding it)")]
    MissingSecret {
        name: &'static str,
        file_name: &'static str,
    },
    #[error("{name}: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("{name}: cannot read {path}: {reason}")]
    Unreadable {
        name: &'static str,
        path: PathBuf,
        reason: String,
    },
}

/// A secret a function may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// `GITLAB_SHELL_SECRET` or `GITLAB_SHELL_SECRET_FILE`.
    Shell,
    /// `ERROR_TRACKING_TOKEN` or `ERROR_TRACKING_TOKEN_FILE`: the OpsTrace access token
    /// (`error_tracking_access_token`).
    ErrorTracking,
    /// `GITLAB_KAS_SECRET` or `GITLAB_KAS_SECRET_FILE`: base64 of 32 bytes, decoded at start.
    Kas,
}

impl Secret {
    fn variables(self) -> (&'static str, &'static str) {
        match self {
            Self::Shell => ("GITLAB_SHELL_SECRET", "GITLAB_SHELL_SECRET_FILE"),
            Self::ErrorTracking => ("ERROR_TRACKING_TOKEN", "ERROR_TRACKING_TOKEN_FILE"),
            Self::Kas => ("GITLAB_KAS_SECRET", "GITLAB_KAS_SECRET_FILE"),
        }
    }

    /// The variable naming the secret's Secrets Manager ARN (how the template configures a
    /// function: the value itself is never in its configuration).
    fn arn_variable(self) -> &'static str {
        match self {
            Self::Shell => "GITLAB_SHELL_SECRET_ARN",
            Self::ErrorTracking => "ERROR_TRACKING_TOKEN_ARN",
            Self::Kas => "GITLAB_KAS_SECRET_ARN",
        }
    }
}

/// Where a secret comes from: its value, read at start (the local server, `cargo lambda`),
/// or a Secrets Manager secret read at run time and again after the cache time.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSetting {
    /// The value, with one trailing newline removed (the KAS secret decoded).
    Value(Vec<u8>),
    SecretsManager {
        arn: String,
    },
}

impl std::fmt::Debug for SecretSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Value(_) => f.write_str("Value(<redacted>)"),
            Self::SecretsManager { arn } => write!(f, "SecretsManager({arn})"),
        }
    }
}

/// How the function reaches the AWS Parameters and Secrets Lambda Extension.
#[derive(Clone, Default)]
pub struct SecretsExtension {
    /// `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` (2773 unless set).
    pub port: u16,
    /// `AWS_SESSION_TOKEN`, which the extension wants on every request.
    pub session_token: String,
    /// `SECRETS_CACHE_SECONDS` (60) and `SECRET_ROTATION_WINDOW_SECONDS` (3600).
    pub rotation: crate::secrets::Rotation,
}

impl std::fmt::Debug for SecretsExtension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsExtension")
            .field("port", &self.port)
            .field("session_token", &"<redacted>")
            .field("rotation", &self.rotation)
            .finish()
    }
}

#[derive(Clone)]
pub struct Config {
    pub dynamodb: DynamoConfig,
    /// The GitLab Shell secret as the HMAC key: the file's bytes less one trailing newline.
    pub shell_secret: Option<SecretSetting>,
    pub error_tracking_token: Option<SecretSetting>,
    /// The decoded 32-byte KAS secret.
    pub kas_secret: Option<SecretSetting>,
    /// For secrets read from Secrets Manager.
    pub secrets_extension: SecretsExtension,
    pub instance: InstanceInfo,
    /// `CUSTOMERS_DOT_URL`: the subscription portal whose JWTs the billing family accepts
    /// (`X-Customers-Dot-Internal-Token`); without it only admin tokens authenticate there.
    pub customers_dot_url: Option<String>,
    /// JSON log lines (Lambda) or compact text.
    pub json_logs: bool,
    /// `SETTINGS_CACHE_SECONDS`: how long a process trusts the instance settings it read
    /// (default 60, GitLab's own in-process cache; 0 reads them with every request).
    pub settings_ttl: std::time::Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("dynamodb", &self.dynamodb)
            .field("shell_secret", &self.shell_secret)
            .field("kas_secret", &self.kas_secret)
            .field("error_tracking_token", &self.error_tracking_token)
            .field("secrets_extension", &self.secrets_extension)
            .field("instance", &self.instance)
            .field("customers_dot_url", &self.customers_dot_url)
            .field("settings_ttl", &self.settings_ttl)
            .finish()
    }
}

/// The version reported when `GITLAB_VERSION` is not set: the GitLab release whose internal
/// API this service implements.
pub const DEFAULT_GITLAB_VERSION: &str = "18.6.0";

impl InstanceInfo {
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            gitlab_version: lookup("GITLAB_VERSION")
                .unwrap_or_else(|| DEFAULT_GITLAB_VERSION.to_owned()),
            gitlab_rev: lookup("GITLAB_REV")
                .unwrap_or_else(|| format!("glapi-{}", env!("CARGO_PKG_VERSION"))),
        }
    }
}

impl Config {
    /// Reads the Lambda configuration: `TABLE_NAME`, optional `DYNAMODB_ENDPOINT` and
    /// `AWS_REGION`, the secrets in `needs`, `GITLAB_VERSION`/`GITLAB_REV`.
    pub fn from_env(needs: &[Secret]) -> Result<Self, ConfigError> {
        Self::from_lookup(needs, &|name| {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        })
    }

    pub fn from_lookup(
        needs: &[Secret],
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let table = lookup("TABLE_NAME").ok_or(ConfigError::Missing("TABLE_NAME"))?;
        let read = |secret: Secret| -> Result<Option<SecretSetting>, ConfigError> {
            if needs.contains(&secret) {
                read_secret(secret, lookup).map(Some)
            } else {
                Ok(None)
            }
        };
        let shell_secret = read(Secret::Shell)?;
        let error_tracking_token = read(Secret::ErrorTracking)?;
        let kas_secret = match read(Secret::Kas)? {
            Some(SecretSetting::Value(file)) => Some(SecretSetting::Value(
                gl_auth::kas_secret_from_file(&file).map_err(|err| ConfigError::Invalid {
                    name: "GITLAB_KAS_SECRET",
                    reason: err.to_string(),
                })?,
            )),
            other => other,
        };
        let seconds = |name: &'static str, default: u64| -> Result<Duration, ConfigError> {
            match lookup(name) {
                None => Ok(Duration::from_secs(default)),
                Some(value) => whole_seconds(name, &value),
            }
        };
        let secrets_extension = SecretsExtension {
            port: match lookup("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT") {
                None => 2773,
                Some(port) => port.trim().parse().map_err(|_| ConfigError::Invalid {
                    name: "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
                    reason: format!("{port:?} is not a port"),
                })?,
            },
            session_token: lookup("AWS_SESSION_TOKEN").unwrap_or_default(),
            rotation: crate::secrets::Rotation {
                cache: seconds("SECRETS_CACHE_SECONDS", 60)?,
                window: seconds("SECRET_ROTATION_WINDOW_SECONDS", 3600)?,
            },
        };
        Ok(Self {
            dynamodb: DynamoConfig {
                table,
                endpoint: lookup("DYNAMODB_ENDPOINT"),
                region: None,
                timeouts: Timeouts::default(),
                http_client: None,
            },
            shell_secret,
            error_tracking_token,
            kas_secret,
            secrets_extension,
            instance: InstanceInfo::from_lookup(lookup),
            customers_dot_url: lookup("CUSTOMERS_DOT_URL"),
            json_logs: lookup("AWS_LAMBDA_FUNCTION_NAME").is_some(),
            settings_ttl: settings_ttl(lookup)?,
        })
    }
}

fn settings_ttl(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Duration, ConfigError> {
    const NAME: &str = "SETTINGS_CACHE_SECONDS";
    match lookup(NAME) {
        None => Ok(gl_store::DEFAULT_SETTINGS_TTL),
        Some(value) => whole_seconds(NAME, &value),
    }
}

fn whole_seconds(name: &'static str, value: &str) -> Result<Duration, ConfigError> {
    value
        .trim()
        .parse::<u32>()
        .map(|seconds| Duration::from_secs(seconds.into()))
        .map_err(|_| ConfigError::Invalid {
            name,
            reason: format!("{value:?} is not a whole number of seconds"),
        })
}

/// A secret from its Secrets Manager ARN (read at run time), its variable or a file. A value
/// is treated like GitLab treats the file: one trailing newline removed.
fn read_secret(
    secret: Secret,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<SecretSetting, ConfigError> {
    if let Some(arn) = lookup(secret.arn_variable()) {
        return Ok(SecretSetting::SecretsManager { arn });
    }
    read_secret_value(secret, lookup).map(SecretSetting::Value)
}

fn read_secret_value(
    secret: Secret,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<u8>, ConfigError> {
    let (name, file_name) = secret.variables();
    // A GitLab Shell secret that can be guessed lets anyone forge its tokens: refuse to start.
    let strong_enough = |bytes: Vec<u8>, source: String| {
        if secret == Secret::Shell {
            gl_auth::check_shell_secret(&bytes).map_err(|reason| ConfigError::Invalid {
                name,
                reason: format!("{source}: {reason}"),
            })?;
        }
        Ok(bytes)
    };
    if let Some(value) = lookup(name) {
        return strong_enough(
            gl_auth::shell_secret_from_file(value.as_bytes()),
            name.to_owned(),
        );
    }
    let path = lookup(file_name)
        .map(PathBuf::from)
        .ok_or(ConfigError::MissingSecret { name, file_name })?;
    let bytes = std::fs::read(&path).map_err(|err| ConfigError::Unreadable {
        name: file_name,
        path: path.clone(),
        reason: err.to_string(),
    })?;
    strong_enough(
        gl_auth::shell_secret_from_file(&bytes),
        path.display().to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn missing_settings_are_named() {
        let err = Config::from_lookup(&[], &lookup(&[])).unwrap_err();
        assert_eq!(err.to_string(), "TABLE_NAME must be set");
        let err =
            Config::from_lookup(&[Secret::Shell], &lookup(&[("TABLE_NAME", "t")])).unwrap_err();
        assert!(err.to_string().contains("GITLAB_SHELL_SECRET"), "{err}");
        let err = Config::from_lookup(
            &[Secret::Shell],
            &lookup(&[
                ("TABLE_NAME", "t"),
                ("GITLAB_SHELL_SECRET_FILE", "/nonexistent/secret"),
            ]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/secret"), "{err}");
    }

    #[test]
    fn the_settings_cache_time_is_configurable_and_checked() {
        let read = |value: Option<&str>| {
            let mut vars = vec![("TABLE_NAME", "t")];
            vars.extend(value.map(|v| ("SETTINGS_CACHE_SECONDS", v)));
            Config::from_lookup(&[], &lookup(&vars)).map(|config| config.settings_ttl)
        };
        assert_eq!(read(None), Ok(Duration::from_secs(60)));
        assert_eq!(read(Some("0")), Ok(Duration::ZERO));
        assert_eq!(read(Some("5")), Ok(Duration::from_secs(5)));
        let err = read(Some("a minute")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SETTINGS_CACHE_SECONDS: \"a minute\" is not a whole number of seconds"
        );
        assert!(read(Some("-1")).is_err());
    }

    #[test]
    fn secret_from_variable_loses_one_newline() {
        let config = Config::from_lookup(
            &[Secret::Shell],
            &lookup(&[
                ("TABLE_NAME", "t"),
                ("GITLAB_SHELL_SECRET", "0123456789abcdef-s3cret\n"),
                ("DYNAMODB_ENDPOINT", "http://x"),
            ]),
        )
        .unwrap();
        assert_eq!(
            config.shell_secret,
            Some(SecretSetting::Value(b"0123456789abcdef-s3cret".to_vec()))
        );
        assert_eq!(config.dynamodb.endpoint.as_deref(), Some("http://x"));
        assert!(!format!("{config:?}").contains("s3cret"));
    }
}
