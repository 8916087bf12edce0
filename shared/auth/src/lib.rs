//! Request authentication for GitLab's internal API: the GitLab Shell JWT, and the digests and
//! constant-time comparisons that every token check uses.

pub mod customers_dot;

use std::collections::HashSet;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The header GitLab Shell and Gitaly put their JWT in (`Gitlab::Shell::API_HEADER`).
pub const SHELL_API_HEADER: &str = "Gitlab-Shell-Api-Request";
/// `Gitlab::Shell::JWT_ISSUER`.
pub const SHELL_JWT_ISSUER: &str = "gitlab-shell";
/// `JSONWebToken::HMACToken::LEEWAY`.
pub const SHELL_JWT_LEEWAY_SECONDS: u64 = 60;

/// The longest a GitLab Shell or KAS JWT may live: GitLab Shell and Gitaly mint 60 s tokens,
/// KAS about 30 s; a token valid for longer is refused, so a leaked one is soon worthless.
pub const MAX_JWT_LIFETIME_SECONDS: i64 = 300;

/// The shortest GitLab Shell secret accepted (GitLab generates 32 hex characters): a shorter
/// one can be guessed, and with it any token forged.
pub const SHELL_SECRET_MIN_BYTES: usize = 16;

/// Refuses a GitLab Shell secret too short to keep tokens unforgeable.
pub fn check_shell_secret(secret: &[u8]) -> Result<(), String> {
    if secret.len() < SHELL_SECRET_MIN_BYTES {
        return Err(format!(
            "the GitLab Shell secret is {} bytes; at least {SHELL_SECRET_MIN_BYTES} are needed (GitLab generates 32 hex characters)",
            secret.len()
        ));
    }
    Ok(())
}

/// The claims that bound a token's life.
#[derive(Debug, Deserialize)]
struct Lifetime {
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
}

/// Refuses a token that would stay valid longer than [`MAX_JWT_LIFETIME_SECONDS`]: from its
/// `iat` when it has one, and in any case from now (`leeway` allowed for clock skew).
fn check_lifetime(lifetime: &Lifetime, leeway: i64) -> Result<(), AuthError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64);
    // Saturating: an `iat` or `exp` near the ends of i64 means a lifetime too long to count,
    // not an overflow (a panic, or a wrapped negative lifetime that would pass).
    let from_issue = lifetime.iat.map(|iat| lifetime.exp.saturating_sub(iat));
    if from_issue.is_some_and(|life| life > MAX_JWT_LIFETIME_SECONDS)
        || lifetime.exp.saturating_sub(now) > MAX_JWT_LIFETIME_SECONDS + leeway
    {
        return Err(AuthError::InvalidToken(format!(
            "the token lives longer than {MAX_JWT_LIFETIME_SECONDS} s"
        )));
    }
    Ok(())
}

/// Why a request was not authenticated. Never shown to the client (which only ever learns
/// "401 Unauthorized"); logged so an operator can tell a clock skew from a wrong secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("the {0} header is missing or empty")]
    MissingHeader(&'static str),
    #[error("the token was rejected: {0}")]
    InvalidToken(String),
    #[error("the token's issuer is not {0}")]
    WrongIssuer(&'static str),
}

/// The GitLab Shell secret as GitLab uses it: `File.read(secret_file).chomp`, the bytes of the
/// file with one trailing `\n`, `\r\n` or `\r` removed and nothing else touched.
pub fn shell_secret_from_file(contents: &[u8]) -> Vec<u8> {
    let trimmed = contents
        .strip_suffix(b"\r\n")
        .or_else(|| contents.strip_suffix(b"\n"))
        .or_else(|| contents.strip_suffix(b"\r"))
        .unwrap_or(contents);
    trimmed.to_vec()
}

/// The JWT a header carries: present, UTF-8 and not blank, or `MissingHeader`.
/// The longest JWT read. GitLab Shell's and KAS's are about 200 bytes; a longer one is refused
/// before it is decoded or its signature computed, so a forged token costs us nothing in
/// proportion to its size. (GitLab has no such bound; API Gateway allows 10 KiB of headers.)
pub const MAX_JWT_BYTES: usize = 4096;

fn header_token<'a>(header: Option<&'a [u8]>, name: &'static str) -> Result<&'a str, AuthError> {
    let token = header
        .and_then(|value| std::str::from_utf8(value).ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .ok_or(AuthError::MissingHeader(name))?;
    if token.len() > MAX_JWT_BYTES {
        return Err(AuthError::InvalidToken(format!(
            "longer than {MAX_JWT_BYTES} bytes"
        )));
    }
    Ok(token)
}

#[derive(Debug, Serialize, Deserialize)]
struct ShellClaims {
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    exp: i64,
}

/// Verifies `Gitlab-Shell-Api-Request` the way `Gitlab::Shell.verify_api_request` does:
/// HS256 only, 60 s leeway on `exp` and `nbf`, then `iss` must be exactly `gitlab-shell`; no
/// audience check. Stricter than GitLab: `exp` is required and the token may not live longer
/// than [`MAX_JWT_LIFETIME_SECONDS`] (every real client sends a short-lived one).
#[derive(Clone)]
pub struct ShellJwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for ShellJwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShellJwtVerifier { .. }")
    }
}

impl ShellJwtVerifier {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = SHELL_JWT_LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.required_spec_claims = HashSet::from(["exp".to_owned()]);
        Self {
            key: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn verify(&self, header: Option<&[u8]>) -> Result<(), AuthError> {
        let token = header_token(header, SHELL_API_HEADER)?;
        let data = jsonwebtoken::decode::<ShellClaims>(token, &self.key, &self.validation)
            .map_err(|err| AuthError::InvalidToken(err.to_string()))?;
        check_lifetime(
            &Lifetime {
                exp: data.claims.exp,
                iat: data.claims.iat,
            },
            SHELL_JWT_LEEWAY_SECONDS as i64,
        )?;
        match data.claims.iss.as_deref() {
            Some(SHELL_JWT_ISSUER) => Ok(()),
            _ => Err(AuthError::WrongIssuer(SHELL_JWT_ISSUER)),
        }
    }
}

/// The header KAS puts its JWT in (`Gitlab::Kas::INTERNAL_API_KAS_REQUEST_HEADER`).
pub const KAS_API_HEADER: &str = "Gitlab-Kas-Api-Request";
pub const KAS_JWT_ISSUER: &str = "gitlab-kas";
pub const KAS_JWT_AUDIENCE: &str = "gitlab";

/// Why a KAS secret file cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KasSecretError {
    #[error("the KAS secret is not strict base64")]
    NotBase64,
    #[error("the KAS secret must decode to 32 bytes, not {0}")]
    WrongLength(usize),
}

/// The KAS secret as GitLab reads it: `Base64.strict_decode64(File.read(path).chomp)`, which
/// must be exactly 32 bytes.
pub fn kas_secret_from_file(contents: &[u8]) -> Result<Vec<u8>, KasSecretError> {
    use base64::Engine as _;
    let text = shell_secret_from_file(contents);
    let key = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| KasSecretError::NotBase64)?;
    if key.len() != 32 {
        return Err(KasSecretError::WrongLength(key.len()));
    }
    Ok(key)
}

/// Verifies `Gitlab-Kas-Api-Request` as `Gitlab::Kas.verify_api_request` does: HS256 with the
/// decoded secret, `iss` = `gitlab-kas`, `aud` containing `gitlab` (a string or an array), no
/// leeway, `nbf` checked when present; `exp` required, the token living no longer than
/// [`MAX_JWT_LIFETIME_SECONDS`].
#[derive(Clone)]
pub struct KasJwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for KasJwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KasJwtVerifier { .. }")
    }
}

impl KasJwtVerifier {
    /// `key` is the decoded secret (see [`kas_secret_from_file`]).
    pub fn new(key: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.required_spec_claims = ["iss", "aud", "exp"]
            .iter()
            .map(|c| (*c).to_owned())
            .collect();
        validation.set_issuer(&[KAS_JWT_ISSUER]);
        validation.set_audience(&[KAS_JWT_AUDIENCE]);
        Self {
            key: DecodingKey::from_secret(key),
            validation,
        }
    }

    pub fn verify(&self, header: Option<&[u8]>) -> Result<(), AuthError> {
        let token = header_token(header, KAS_API_HEADER)?;
        let data = jsonwebtoken::decode::<Lifetime>(token, &self.key, &self.validation)
            .map_err(|err| AuthError::InvalidToken(err.to_string()))?;
        check_lifetime(&data.claims, 0)
    }
}

/// Mints what KAS sends: `iss` gitlab-kas, `aud` `["gitlab"]` (golang-jwt's array form),
/// `iat`, `nbf` = now − 5 s, `exp` = now + 30 s. For tests and the local server.
pub fn mint_kas_jwt(key: &[u8], now: i64) -> String {
    let claims = serde_json::json!({"iss": KAS_JWT_ISSUER, "aud": [KAS_JWT_AUDIENCE], "iat": now, "nbf": now - 5, "exp": now + 30});
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key),
    )
    .expect("HS256 signing with an in-memory key cannot fail")
}

/// Mints the token GitLab Shell sends: `{"iss":"gitlab-shell","iat":now,"exp":now+ttl}`.
/// Used by the local server's ready-to-paste curl, by benchmarks and by tests.
pub fn mint_shell_jwt(secret: &[u8], now: i64, ttl_seconds: i64) -> String {
    let claims = ShellClaims {
        iss: Some(SHELL_JWT_ISSUER.to_owned()),
        iat: Some(now),
        exp: now + ttl_seconds,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("HS256 signing with an in-memory key cannot fail")
}

/// What is stored for a token or secret: the lowercase hex SHA-256 of its bytes. Tokens are
/// high-entropy random strings, so an unsalted digest is what GitLab stores too
/// (`TokenAuthenticatable` with `digest: true`).
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two secrets without leaking, through timing, how much of them matched.
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// `n` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes
}

/// A fresh GitLab Shell secret as GitLab writes one (`SecureRandom.hex(16)`).
pub fn new_shell_secret() -> String {
    hex::encode(random_bytes::<16>())
}

/// A fresh KAS secret as GitLab writes one: base64 of 32 random bytes.
pub fn new_kas_secret() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(random_bytes::<32>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    const SECRET: &[u8] = b"default-secret-content";

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn sign(header: Header, claims: serde_json::Value, secret: &[u8]) -> String {
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    fn verify(token: &str) -> Result<(), AuthError> {
        ShellJwtVerifier::new(SECRET).verify(Some(token.as_bytes()))
    }

    #[test]
    fn accepts_what_gitlab_shell_sends() {
        assert_eq!(verify(&mint_shell_jwt(SECRET, now(), 60)), Ok(()));
    }

    #[test]
    fn accepts_a_future_iat_and_any_audience() {
        let claims = serde_json::json!({"iss": "gitlab-shell", "iat": now() + 10,
                                        "exp": now() + 70, "aud": "anything"});
        assert_eq!(
            verify(&sign(Header::new(Algorithm::HS256), claims, SECRET)),
            Ok(())
        );
    }

    #[test]
    fn refuses_tokens_without_exp_or_living_longer_than_five_minutes() {
        let hs = || Header::new(Algorithm::HS256);
        let never = serde_json::json!({"iss": "gitlab-shell", "iat": now()});
        assert!(verify(&sign(hs(), never, SECRET)).is_err());
        let long = serde_json::json!({"iss": "gitlab-shell", "iat": now(), "exp": now() + 301});
        assert!(verify(&sign(hs(), long, SECRET)).is_err());
        let far = serde_json::json!({"iss": "gitlab-shell", "exp": now() + 3600});
        assert!(verify(&sign(hs(), far, SECRET)).is_err());
        assert!(verify(&mint_shell_jwt(SECRET, now(), 3600)).is_err());
        assert_eq!(verify(&mint_shell_jwt(SECRET, now(), 300)), Ok(()));
        let key = [7u8; 32];
        let kas = KasJwtVerifier::new(&key);
        let kas_claims = |exp: Option<i64>| {
            let mut claims =
                serde_json::json!({"iss": "gitlab-kas", "aud": "gitlab", "iat": now()});
            if let Some(exp) = exp {
                claims["exp"] = exp.into();
            }
            sign(hs(), claims, &key)
        };
        assert!(kas.verify(Some(kas_claims(None).as_bytes())).is_err());
        assert!(
            kas.verify(Some(kas_claims(Some(now() + 600)).as_bytes()))
                .is_err()
        );
        assert_eq!(
            kas.verify(Some(kas_claims(Some(now() + 30)).as_bytes())),
            Ok(())
        );
    }

    /// `exp - iat` overflowed: a panic with overflow checks, and without them a wrapped
    /// negative lifetime that passed (infra/fuzz's `jwt` target, corpus `signed-shell-iat-min`).
    #[test]
    fn lifetimes_from_extreme_iat_or_exp_are_refused_without_overflow() {
        let hs = || Header::new(Algorithm::HS256);
        for (iat, exp) in [(i64::MIN, now() + 60), (-1, i64::MAX), (i64::MIN, i64::MAX)] {
            let claims = serde_json::json!({"iss": "gitlab-shell", "iat": iat, "exp": exp});
            assert!(verify(&sign(hs(), claims, SECRET)).is_err(), "{iat} {exp}");
            let key = [7u8; 32];
            let claims =
                serde_json::json!({"iss": "gitlab-kas", "aud": "gitlab", "iat": iat, "exp": exp});
            assert!(
                KasJwtVerifier::new(&key)
                    .verify(Some(sign(hs(), claims, &key).as_bytes()))
                    .is_err(),
                "{iat} {exp}"
            );
        }
    }

    #[test]
    fn short_shell_secrets_are_refused() {
        assert!(check_shell_secret(b"s3cret").is_err());
        assert!(check_shell_secret(b"").is_err());
        assert!(check_shell_secret(b"0123456789abcdef").is_ok());
    }

    #[test]
    fn leeway_is_sixty_seconds() {
        let within = serde_json::json!({"iss": "gitlab-shell", "exp": now() - 30});
        assert_eq!(
            verify(&sign(Header::new(Algorithm::HS256), within, SECRET)),
            Ok(())
        );
        let stale =
            serde_json::json!({"iss": "gitlab-shell", "iat": now() - 120, "exp": now() - 65});
        assert!(verify(&sign(Header::new(Algorithm::HS256), stale, SECRET)).is_err());
        let early =
            serde_json::json!({"iss": "gitlab-shell", "nbf": now() + 120, "exp": now() + 180});
        assert!(verify(&sign(Header::new(Algorithm::HS256), early, SECRET)).is_err());
    }

    #[test]
    fn rejects_other_issuers_algorithms_and_keys() {
        let claims = |iss: &str| serde_json::json!({"iss": iss, "exp": now() + 60});
        let hs = || Header::new(Algorithm::HS256);
        assert_eq!(
            verify(&sign(hs(), claims("gitlab-workhorse"), SECRET)),
            Err(AuthError::WrongIssuer("gitlab-shell"))
        );
        assert!(verify(&sign(hs(), serde_json::json!({"exp": now() + 60}), SECRET)).is_err());
        assert!(
            verify(&sign(
                Header::new(Algorithm::HS512),
                claims("gitlab-shell"),
                SECRET
            ))
            .is_err()
        );
        assert!(verify(&sign(hs(), claims("gitlab-shell"), b"other-secret")).is_err());
        assert!(verify("not.a.jwt").is_err());
        assert_eq!(
            ShellJwtVerifier::new(SECRET).verify(None),
            Err(AuthError::MissingHeader(SHELL_API_HEADER))
        );
        assert!(ShellJwtVerifier::new(SECRET).verify(Some(b"  ")).is_err());
    }

    #[test]
    fn rejects_unsigned_tokens() {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = b64.encode(format!(r#"{{"iss":"gitlab-shell","exp":{}}}"#, now() + 60));
        assert!(verify(&format!("{header}.{payload}.")).is_err());
    }

    #[test]
    fn secret_file_loses_exactly_one_line_terminator() {
        assert_eq!(shell_secret_from_file(b"abc\n"), b"abc");
        assert_eq!(shell_secret_from_file(b"abc\r\n"), b"abc");
        assert_eq!(shell_secret_from_file(b"abc\n\n"), b"abc\n");
        assert_eq!(shell_secret_from_file(b" abc \n"), b" abc ");
        assert_eq!(shell_secret_from_file(b"abc"), b"abc");
    }

    #[test]
    fn kas_tokens_need_issuer_audience_and_the_decoded_key() {
        use base64::Engine as _;
        let key = [7u8; 32];
        let file = format!(
            "{}\n",
            base64::engine::general_purpose::STANDARD.encode(key)
        );
        assert_eq!(kas_secret_from_file(file.as_bytes()).unwrap(), key.to_vec());
        assert_eq!(
            kas_secret_from_file(b"c2hvcnQ=\n"),
            Err(KasSecretError::WrongLength(5))
        );
        assert_eq!(
            kas_secret_from_file(b"not base64!"),
            Err(KasSecretError::NotBase64)
        );

        let verifier = KasJwtVerifier::new(&key);
        let now = now();
        assert_eq!(
            verifier.verify(Some(mint_kas_jwt(&key, now).as_bytes())),
            Ok(())
        );
        let string_aud = sign(
            Header::new(Algorithm::HS256),
            serde_json::json!({"iss": "gitlab-kas", "aud": "gitlab", "exp": now + 30}),
            &key,
        );
        assert_eq!(verifier.verify(Some(string_aud.as_bytes())), Ok(()));
        let rejected = [
            sign(
                Header::new(Algorithm::HS256),
                serde_json::json!({"iss": "gitlab-kas", "aud": "other"}),
                &key,
            ),
            sign(
                Header::new(Algorithm::HS256),
                serde_json::json!({"iss": "gitlab-kas"}),
                &key,
            ),
            sign(
                Header::new(Algorithm::HS256),
                serde_json::json!({"iss": "gitlab-shell", "aud": "gitlab"}),
                &key,
            ),
            sign(
                Header::new(Algorithm::HS256),
                serde_json::json!({"iss": "gitlab-kas", "aud": "gitlab", "exp": now - 1}),
                &key,
            ),
            mint_kas_jwt(file.trim().as_bytes(), now),
            mint_shell_jwt(&key, now, 60),
        ];
        for token in rejected {
            assert!(verifier.verify(Some(token.as_bytes())).is_err(), "{token}");
        }
    }

    #[test]
    fn digests_are_sha256_hex() {
        assert_eq!(
            token_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(secrets_equal(b"same", b"same"));
        assert!(!secrets_equal(b"same", b"sane"));
        assert!(!secrets_equal(b"same", b"same-but-longer"));
    }

    #[test]
    fn generated_kas_secret_is_base64_of_32_bytes() {
        let secret = new_kas_secret();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(secret)
            .unwrap();
        assert_eq!(decoded.len(), 32);
        assert_eq!(new_shell_secret().len(), 32);
    }
}
