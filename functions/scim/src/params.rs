//! A SCIM request's parameters as GitLab's Grape sees them: the query string, then the body
//! (JSON, `application/scim+json` or a form), then the path's own parameters, in the order
//! they came. The order matters because GitLab's error details print the parameters with
//! Ruby's `Hash#inspect`, after Rails' parameter filter has hidden the secrets.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use gl_http::ApiError;

/// A hash's entries in the order their keys first came, a repeated key taking the later value
/// in place, as a Ruby hash does. Keys are found through an index, not a scan: a body of many
/// keys (a few hundred thousand fit in one) costs time in proportion to them, not to their
/// square.
#[derive(Default)]
struct Entries {
    entries: Vec<(String, Ordered)>,
    at: HashMap<String, usize>,
}

impl Entries {
    fn set(&mut self, key: String, value: Ordered) {
        match self.at.get(&key) {
            Some(&at) => self.entries[at].1 = value,
            None => {
                self.at.insert(key.clone(), self.entries.len());
                self.entries.push((key, value));
            }
        }
    }

    fn into_vec(self) -> Vec<(String, Ordered)> {
        self.entries
    }
}

/// A JSON value that keeps its objects' key order, as a Ruby hash does.
#[derive(Debug, Clone, PartialEq)]
pub enum Ordered {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Ordered>),
    Hash(Vec<(String, Ordered)>),
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor;

        impl<'de> Visitor<'de> for OrderedVisitor {
            type Value = Ordered;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }

            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Null)
            }

            fn visit_bool<E>(self, v: bool) -> Result<Ordered, E> {
                Ok(Ordered::Bool(v))
            }

            fn visit_i64<E>(self, v: i64) -> Result<Ordered, E> {
                Ok(Ordered::Number(v.into()))
            }

            fn visit_u64<E>(self, v: u64) -> Result<Ordered, E> {
                Ok(Ordered::Number(v.into()))
            }

            fn visit_f64<E>(self, v: f64) -> Result<Ordered, E> {
                Ok(serde_json::Number::from_f64(v).map_or(Ordered::Null, Ordered::Number))
            }

            fn visit_str<E>(self, v: &str) -> Result<Ordered, E> {
                Ok(Ordered::String(v.to_owned()))
            }

            fn visit_string<E>(self, v: String) -> Result<Ordered, E> {
                Ok(Ordered::String(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Ordered::Array(items))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut entries = Entries::default();
                while let Some((key, value)) = map.next_entry::<String, Ordered>()? {
                    entries.set(key, value);
                }
                Ok(Ordered::Hash(entries.into_vec()))
            }
        }

        deserializer.deserialize_any(OrderedVisitor)
    }
}

impl Ordered {
    /// The member `key` of a hash.
    pub fn get(&self, key: &str) -> Option<&Ordered> {
        match self {
            Self::Hash(entries) => entries
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, value)| value),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// Ruby's `Hash#inspect` (Ruby 3.3 and before: `{"a"=>1, "b"=>nil}`).
    pub fn inspect(&self) -> String {
        match self {
            Self::Null => "nil".to_owned(),
            Self::Bool(b) => b.to_string(),
            Self::Number(n) => n.to_string(),
            Self::String(s) => inspect_string(s),
            Self::Array(items) => {
                let items: Vec<String> = items.iter().map(Self::inspect).collect();
                format!("[{}]", items.join(", "))
            }
            Self::Hash(entries) => {
                let entries: Vec<String> = entries
                    .iter()
                    .map(|(key, value)| format!("{}=>{}", inspect_string(key), value.inspect()))
                    .collect();
                format!("{{{}}}", entries.join(", "))
            }
        }
    }

    /// Rails' parameter filter over GitLab's `filter_parameters`: a filtered key's value,
    /// however deep, becomes `"[FILTERED]"`.
    pub fn filtered(&self) -> Ordered {
        match self {
            Self::Array(items) => Self::Array(items.iter().map(Self::filtered).collect()),
            Self::Hash(entries) => Self::Hash(
                entries
                    .iter()
                    .map(|(key, value)| {
                        let value = if filtered_key(key) {
                            Self::String("[FILTERED]".to_owned())
                        } else {
                            value.filtered()
                        };
                        (key.clone(), value)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// As a `serde_json::Value`, for reading members by name.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Null => serde_json::Value::Null,
            Self::Bool(b) => (*b).into(),
            Self::Number(n) => serde_json::Value::Number(n.clone()),
            Self::String(s) => s.clone().into(),
            Self::Array(items) => items.iter().map(Self::to_json).collect(),
            Self::Hash(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(key, value)| (key.clone(), value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Ruby's `String#inspect`: double quotes, with `"`, `\` and control characters escaped.
fn inspect_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// GitLab's `config.filter_parameters` (`config/application.rb`), as Rails matches them: a
/// regexp anywhere in the key, a plain name as a substring.
fn filtered_key(key: &str) -> bool {
    const CONTAINS: &[&str] = &[
        "password",
        "secret",
        "certificate",
        "encrypted_key",
        "import_url",
        "elasticsearch_url",
        "otp_attempt",
        "sentry_dsn",
        "trace",
        "variables",
        "content",
        "sharedSecret",
        "redirect",
    ];
    const EXACT: &[&str] = &[
        "body",
        "description",
        "query",
        "note",
        "text",
        "title",
        "hook",
    ];
    CONTAINS.iter().any(|part| key.contains(part))
        || key.ends_with("token")
        || key.ends_with("key")
        || EXACT.contains(&key)
}

/// What a SCIM request carries: its parameters in order, and the SCIM token it presents.
#[derive(Clone)]
pub struct ScimParams {
    pub params: Ordered,
    pub token: Option<String>,
}

/// Never prints the token, nor a parameter Rails would filter.
impl std::fmt::Debug for ScimParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimParams")
            .field("params", &self.inspect())
            .field("token", &self.token.as_ref().map(|_| "[FILTERED]"))
            .finish()
    }
}

impl ScimParams {
    /// Reads the query string and the body; `route` are the path's parameters, added last as
    /// Grape adds its routing arguments. A body that is no JSON object is Grape's 400.
    pub fn read(
        query: Option<&str>,
        headers: &HeaderMap,
        body: &Bytes,
        route: &[(&str, &str)],
    ) -> Result<Self, ApiError> {
        let mut entries = Entries::default();
        let mut merge = |key: String, value: Ordered| entries.set(key, value);
        if let Some(query) = query {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_str(query).unwrap_or_default();
            for (key, value) in pairs {
                merge(key, Ordered::String(value));
            }
        }
        if !body.iter().all(u8::is_ascii_whitespace) {
            let media_type = headers
                .get(CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(';').next())
                .map(|value| value.trim().to_ascii_lowercase())
                .unwrap_or_default();
            if media_type == "application/x-www-form-urlencoded" {
                let pairs: Vec<(String, String)> =
                    serde_urlencoded::from_bytes(body).map_err(|_| ApiError::MalformedBody)?;
                for (key, value) in pairs {
                    merge(key, Ordered::String(value));
                }
            } else {
                // JSON whatever the type says: identity providers send `application/json`,
                // `application/scim+json`, or nothing.
                match serde_json::from_slice::<Ordered>(body) {
                    Ok(Ordered::Hash(fields)) => {
                        for (key, value) in fields {
                            merge(key, value);
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return Err(ApiError::MalformedBody),
                }
            }
        }
        for (key, value) in route {
            merge((*key).to_owned(), Ordered::String((*value).to_owned()));
        }
        let params = Ordered::Hash(entries.into_vec());
        let token = bearer(headers).or_else(|| {
            params
                .get("access_token")
                .and_then(Ordered::as_str)
                .filter(|token| !token.is_empty())
                .map(str::to_owned)
        });
        Ok(Self { params, token })
    }

    /// The parameters as GitLab's messages print them: filtered, then inspected.
    pub fn inspect(&self) -> String {
        self.params.filtered().inspect()
    }

    pub fn get(&self, key: &str) -> Option<&Ordered> {
        self.params.get(key)
    }
}

/// `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_keep_their_order_and_print_as_ruby_with_secrets_filtered() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, "application/scim+json".parse().unwrap());
        let body = Bytes::from_static(
            br#"{"userName":"jd","password":"hunter2","name":{"givenName":"J","familyName":"D"},"emails":[{"primary":true,"value":"j@x.io"}],"active":null,"note":"x\"y"}"#,
        );
        let params =
            ScimParams::read(Some("a=1"), &headers, &body, &[("group_path", "group")]).unwrap();
        assert_eq!(
            params.inspect(),
            r#"{"a"=>"1", "userName"=>"jd", "password"=>"[FILTERED]", "name"=>{"givenName"=>"J", "familyName"=>"D"}, "emails"=>[{"primary"=>true, "value"=>"j@x.io"}], "active"=>nil, "note"=>"[FILTERED]", "group_path"=>"group"}"#
        );
        assert_eq!(params.token, None);
    }

    /// Every key was looked for by a scan of those before it, so a body of many distinct keys
    /// took time in their square (20,000 took 53 s in infra/fuzz's `scim` target), before the
    /// token it may carry was read.
    #[test]
    fn many_keys_cost_time_in_proportion_to_them() {
        let keys = 50_000;
        let mut body: Vec<String> = (0..keys).map(|i| format!(r#""k{i}":0"#)).collect();
        body.push(r#""k0":1"#.to_owned());
        let body = Bytes::from(format!("{{{}}}", body.join(",")));
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, "application/json".parse().unwrap());
        let started = std::time::Instant::now();
        let params = ScimParams::read(Some("k1=q&k1=r"), &headers, &body, &[("id", "x")]).unwrap();
        let elapsed = started.elapsed();
        assert!(elapsed < std::time::Duration::from_secs(5), "{elapsed:?}");
        let Ordered::Hash(entries) = params.params else {
            panic!("a hash");
        };
        // In the order keys first came, a repeated key's later value in its place.
        assert_eq!(entries.len(), keys + 1);
        assert_eq!(entries[0], ("k1".to_owned(), Ordered::Number(0.into())));
        assert_eq!(entries[1], ("k0".to_owned(), Ordered::Number(1.into())));
        assert_eq!(entries[2].0, "k2");
        assert_eq!(
            entries[keys],
            ("id".to_owned(), Ordered::String("x".to_owned()))
        );
    }

    #[test]
    fn the_token_comes_from_a_bearer_header_or_access_token() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, "Bearer abc".parse().unwrap());
        let params = ScimParams::read(None, &headers, &Bytes::new(), &[]).unwrap();
        assert_eq!(params.token.as_deref(), Some("abc"));
        assert!(!format!("{params:?}").contains("abc"), "{params:?}");
        let params = ScimParams::read(
            Some("access_token=def"),
            &HeaderMap::new(),
            &Bytes::new(),
            &[],
        )
        .unwrap();
        assert_eq!(params.token.as_deref(), Some("def"));
        assert_eq!(params.inspect(), r#"{"access_token"=>"[FILTERED]"}"#);
    }
}
