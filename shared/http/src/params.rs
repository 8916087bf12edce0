//! Parameters read the way GitLab's Grape endpoints read them: from the query string and from
//! a form or JSON body, whichever came, the body winning over the query for the same name.
//! GitLab Shell sends `Content-Type: application/json` even on bodiless GETs, so an empty body
//! is never an error.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

use crate::{ApiError, MAX_BODY_BYTES};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(pub Map<String, Value>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|value| !value.is_null())
    }

    /// A scalar as text, the way Rails sees it whatever JSON type it came as.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A required parameter (`requires :name`): absent gives Grape's "is missing".
    pub fn require_text(&self, name: &'static str) -> Result<String, ApiError> {
        self.text(name).ok_or(ApiError::MissingParam(name))
    }

    /// An id as ActiveRecord casts it for `find_by(id:)`: `7`, `"7"` and `" 7"` find record 7;
    /// anything that is not an integer finds nothing.
    pub fn id(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn merge_pairs(&mut self, pairs: Vec<(String, String)>) {
        for (name, value) in pairs {
            // Rack's `name[]=a&name[]=b` arrays.
            if let Some(base) = name.strip_suffix("[]") {
                let entry = self
                    .0
                    .entry(base.to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(values) = entry {
                    values.push(Value::String(value));
                } else {
                    *entry = Value::Array(vec![Value::String(value)]);
                }
            } else {
                self.0.insert(name, Value::String(value));
            }
        }
    }

    /// Parses what a request carries; split out so tests can drive it without a router.
    pub fn parse(
        query: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Self, ApiError> {
        let mut params = Self::default();
        if let Some(query) = query {
            // Rack ignores malformed pairs rather than failing the request.
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_str(query).unwrap_or_default();
            params.merge_pairs(pairs);
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(params);
        }
        let media_type = content_type
            .and_then(|value| value.split(';').next())
            .map(|value| value.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if media_type == "application/json" || media_type.ends_with("+json") {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(fields)) => params.0.extend(fields),
                // Grape merges only objects into params; other JSON documents add nothing.
                Ok(_) => {}
                Err(_) => return Err(ApiError::MalformedBody),
            }
        } else if media_type == "application/x-www-form-urlencoded" || media_type.is_empty() {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_bytes(body).map_err(|_| ApiError::MalformedBody)?;
            params.merge_pairs(pairs);
        }
        Ok(params)
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let bytes = axum::body::to_bytes(Body::new(body), MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::PayloadTooLarge)?;
        let content_type = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        Self::parse(parts.uri.query(), content_type, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_form_and_json_merge_with_the_body_winning() {
        let params = Params::parse(
            Some("key_id=1&project=a%2Fb"),
            Some("application/json; charset=utf-8"),
            br#"{"key_id": 2, "changes": "_any"}"#,
        )
        .unwrap();
        assert_eq!(params.id("key_id"), Some(2));
        assert_eq!(params.text("project").as_deref(), Some("a/b"));
        assert_eq!(params.text("changes").as_deref(), Some("_any"));

        let form = Params::parse(
            None,
            Some("application/x-www-form-urlencoded"),
            b"key_id=11&scopes[]=api&scopes[]=read_user",
        )
        .unwrap();
        assert_eq!(form.id("key_id"), Some(11));
        assert_eq!(form.get("scopes"), Some(&json!(["api", "read_user"])));
    }

    #[test]
    fn empty_bodies_with_json_content_type_are_fine() {
        let params = Params::parse(Some("key=AAAA"), Some("application/json"), b"").unwrap();
        assert_eq!(params.text("key").as_deref(), Some("AAAA"));
    }

    #[test]
    fn malformed_json_is_a_400_in_grapes_words() {
        let err = Params::parse(None, Some("application/json"), b"{nope").unwrap_err();
        assert_eq!(
            err.body(),
            json!({"error": "message body does not match declared format"})
        );
    }

    #[test]
    fn ids_cast_like_active_record() {
        let params = Params::parse(Some("a=7&b=%207&c=x7&d="), None, b"").unwrap();
        assert_eq!(params.id("a"), Some(7));
        assert_eq!(params.id("b"), Some(7));
        assert_eq!(params.id("c"), None);
        assert_eq!(params.id("d"), None);
        assert_eq!(params.id("missing"), None);
    }

    #[test]
    fn plus_in_query_is_a_space_like_rack() {
        let params = Params::parse(Some("key=AB%2BC+D"), None, b"").unwrap();
        assert_eq!(params.text("key").as_deref(), Some("AB+C D"));
    }
}
