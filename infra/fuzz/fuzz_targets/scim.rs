//! SCIM requests: `scim::params::ScimParams::read` (query, JSON or form body, route
//! parameters, the bearer token), then what the handlers read from them: the `filter` of
//! `GET /Users` (`attributes::parse_filter`, also fed the raw body as a filter), the PATCH
//! operations (`Update::parse`), a create (`Provisioning::parse`, `username::sanitize` and its
//! candidates), and the parameters as GitLab's messages print them (`inspect`, filtered).
//! Input: query line, `Content-Type` line, body (see `gl_fuzz::Request`).
//!
//! Invariants: a refusal is a 400; the token never shows in what is printed; a parsed filter
//! re-serialises to the same filter; filtering is idempotent; a PATCH deprovisions exactly
//! when it set `active` to false; a sanitized username has only GitLab's path characters and
//! no leading, trailing or doubled special.

#![no_main]

use bytes::Bytes;
use gl_fuzz::Request;
use http::HeaderMap;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use libfuzzer_sys::fuzz_target;
use scim::attributes::{Filter, Provisioning, Update, Value, parse_filter};
use scim::params::{Ordered, ScimParams};
use scim::username;

const TOKEN: &str = "scim-fuzz-token-7f3a9c2e5b1d4068";

fn check_filter(text: &str) {
    let Some(filter) = parse_filter(text) else {
        return;
    };
    let (attribute, value) = match &filter {
        Filter::ExternUid(value) => ("externalId", value),
        Filter::Username(value) => ("userName", value),
    };
    assert!(
        !value.contains('"') && !value.contains(char::is_whitespace),
        "{value:?}"
    );
    assert_eq!(
        parse_filter(&format!("{attribute} eq \"{value}\"")),
        Some(filter.clone()),
        "{text:?}"
    );
}

fn check_username(external: &str) {
    let sanitized = username::sanitize(external);
    let special = |c: char| matches!(c, '_' | '.' | '-');
    assert!(
        sanitized
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || special(c)),
        "{sanitized:?}"
    );
    assert!(!sanitized.starts_with(special) && !sanitized.ends_with(special));
    assert!(!sanitized.contains("..") && !sanitized.contains("__") && !sanitized.contains("--"));
    let candidates = username::candidates(&sanitized);
    assert_eq!(candidates[0], sanitized);
    for candidate in candidates.iter().take(3) {
        let _ = username::refused(candidate);
    }
}

fuzz_target!(|data: &[u8]| {
    let request = Request::split(data);
    if let Ok(text) = std::str::from_utf8(request.body) {
        check_filter(text);
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_static("Bearer scim-fuzz-token-7f3a9c2e5b1d4068"),
    );
    if let Some(content_type) = request
        .content_type
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(CONTENT_TYPE, content_type);
    }
    let body = Bytes::copy_from_slice(request.body);
    let route = [("group_path", "acme"), ("id", "e-1")];
    let params = match ScimParams::read(request.query, &headers, &body, &route) {
        Ok(params) => params,
        Err(err) => {
            assert_eq!(err.status().as_u16(), 400, "{err:?}");
            return;
        }
    };
    assert_eq!(params.token.as_deref(), Some(TOKEN));
    let printed = format!("{params:?}");
    if !data
        .windows(TOKEN.len())
        .any(|window| window == TOKEN.as_bytes())
    {
        assert!(!printed.contains(TOKEN), "{printed}");
    }
    let filtered = params.params.filtered();
    assert_eq!(filtered.filtered(), filtered);
    let _ = params.params.to_json();
    assert!(params.inspect().starts_with('{'));

    if let Some(filter) = params.get("filter").and_then(Ordered::as_str) {
        check_filter(filter);
    }
    let update = Update::parse(&params.params);
    assert_eq!(
        update.deprovisions(),
        matches!(update.active, Some(Value::Bool(false)))
    );
    let wanted = Provisioning::parse(&params.params);
    let missing = wanted.missing();
    assert_eq!(
        missing.is_none(),
        wanted.extern_uid.is_some() && wanted.email.is_some() && wanted.username.is_some()
    );
    for text in [&wanted.extern_uid, &wanted.email, &wanted.username] {
        assert!(text.as_ref().is_none_or(|text| !text.trim().is_empty()));
    }
    if let Some(name) = &wanted.username {
        check_username(name);
    }
});
