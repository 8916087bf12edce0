//! Text that is a credential (a token, a secret) where it has to be held in plain: as a seed
//! gives it, as an answer hands it out, or as the settings keep Gitaly's token. It serializes
//! as the plain string, so the wire and the store see no difference, but its `Debug` never
//! prints it: a record or an answer logged with `?` cannot leak what it carries.

use serde::{Deserialize, Serialize};

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretText(String);

impl SecretText {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The text itself, for where it must go: a digest, a signature, an answer's body.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("<redacted>")
        }
    }
}

impl From<String> for SecretText {
    fn from(text: String) -> Self {
        Self(text)
    }
}

impl From<&str> for SecretText {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_text_and_serde_keeps_it() {
        let token = SecretText::new("glpat-0123456789abcdef");
        assert_eq!(format!("{token:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&token)), "Some(<redacted>)");
        let json = serde_json::to_string(&token).unwrap();
        assert_eq!(json, r#""glpat-0123456789abcdef""#);
        assert_eq!(serde_json::from_str::<SecretText>(&json).unwrap(), token);
        assert_eq!(token.expose(), "glpat-0123456789abcdef");
    }
}
