//! What the fuzz targets share: how an input becomes a request, and the clock arithmetic of
//! the JWT targets.

/// A request as the request-shaped targets read their input: the query string on the first
/// line (none when the line is empty), the `Content-Type` on the second (none when empty or
/// not a valid header value), the body after that.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub query: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    pub fn split(data: &'a [u8]) -> Self {
        let (query, rest) = line(data);
        let (content_type, body) = line(rest);
        Self {
            query: std::str::from_utf8(query).ok().filter(|q| !q.is_empty()),
            // `HeaderValue::to_str` as the extractors read it: visible ASCII, spaces and tabs.
            content_type: std::str::from_utf8(content_type).ok().filter(|value| {
                !value.is_empty()
                    && value
                        .bytes()
                        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
            }),
            body,
        }
    }
}

/// The bytes before the first `\n` and those after it.
pub fn line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// The JWT targets' time claims are relative, so that a corpus never goes stale: an integer
/// `exp`, `iat` or `nbf` within a million seconds of zero is taken as an offset from now
/// (`{"exp": 60}` is a token valid for a minute); any other value is signed as it is.
pub const RELATIVE_WINDOW: i64 = 1_000_000;

/// `claims` with its relative time claims made absolute, when it is a JSON object; `None`
/// otherwise (the bytes are then signed as they are).
pub fn absolute_claims(claims: &[u8], now: i64) -> Option<serde_json::Value> {
    let mut value: serde_json::Value = serde_json::from_slice(claims).ok()?;
    let object = value.as_object_mut()?;
    for name in ["exp", "iat", "nbf"] {
        if let Some(claim) = object.get_mut(name)
            && let Some(offset) = claim.as_i64()
            && (-RELATIVE_WINDOW..=RELATIVE_WINDOW).contains(&offset)
        {
            *claim = (now + offset).into();
        }
    }
    Some(value)
}

/// Base64url without padding, as JWTs encode their parts.
pub fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A claim as an integer (JSON integers only), for the invariants' arithmetic.
pub fn int_claim(claims: &serde_json::Value, name: &str) -> Option<i128> {
    let value = claims.get(name)?;
    value
        .as_i64()
        .map(i128::from)
        .or_else(|| value.as_u64().map(i128::from))
}
