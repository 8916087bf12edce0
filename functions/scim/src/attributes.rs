//! How GitLab reads SCIM attributes (`Gitlab::Scim::AttributeTransform`, `ValueParser`,
//! `ParamsParser`, `FilterParser`): the few attributes it maps, how values are coerced, and
//! what a create, a PATCH and a filter become.

use crate::params::Ordered;

/// What a mapped SCIM attribute sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    ExternUid,
    Name,
    Email,
    Active,
    Username,
}

/// `AttributeTransform::MAPPINGS`: the only attribute names GitLab reads (case-sensitive).
pub fn map(name: &str) -> Option<Attribute> {
    Some(match name {
        "id" | "externalId" => Attribute::ExternUid,
        "displayName" | "name.formatted" => Attribute::Name,
        "emails[type eq \"work\"].value" => Attribute::Email,
        "active" => Attribute::Active,
        "userName" => Attribute::Username,
        _ => return None,
    })
}

/// A value after `ValueParser`: strings lose every `"`, and `true`/`false` in any case
/// become booleans.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Text(String),
    Other(Ordered),
}

pub fn parse_value(value: &Ordered) -> Value {
    match value {
        Ordered::String(s) => {
            let unquoted: String = s.chars().filter(|c| *c != '"').collect();
            match unquoted.to_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => Value::Text(unquoted),
            }
        }
        Ordered::Bool(b) => Value::Bool(*b),
        other => Value::Other(other.clone()),
    }
}

impl Value {
    /// The value as the text a column would hold.
    pub fn text(&self) -> Option<String> {
        match self {
            Self::Text(s) => Some(s.clone()),
            Self::Bool(b) => Some(b.to_string()),
            Self::Other(Ordered::Number(n)) => Some(n.to_string()),
            Self::Other(_) => None,
        }
    }
}

/// What a `POST /Users` asks for (`ParamsParser#post_params`): blank parts are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provisioning {
    pub extern_uid: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
}

impl Provisioning {
    pub fn parse(params: &Ordered) -> Self {
        let text = |key: &str| {
            params
                .get(key)
                .map(parse_value)
                .and_then(|value| value.text())
                .filter(|text| !text.trim().is_empty())
        };
        // The first email that is the work one or the primary one.
        let email = match params.get("emails") {
            Some(Ordered::Array(emails)) => emails
                .iter()
                .find(|email| {
                    email.get("type").and_then(Ordered::as_str) == Some("work")
                        || matches!(
                            email.get("primary").map(parse_value),
                            Some(Value::Bool(true))
                        )
                })
                .and_then(|email| email.get("value"))
                .map(parse_value)
                .and_then(|value| value.text()),
            _ => None,
        }
        .filter(|email| !email.trim().is_empty());
        let name = params.get("name").and_then(|name| {
            let part = |key: &str| {
                name.get(key)
                    .and_then(Ordered::as_str)
                    .filter(|s| !s.trim().is_empty())
            };
            part("formatted").map(str::to_owned).or_else(|| {
                let parts: Vec<&str> = [part("givenName"), part("familyName")]
                    .into_iter()
                    .flatten()
                    .collect();
                (!parts.is_empty()).then(|| parts.join(" "))
            })
        });
        Self {
            extern_uid: text("externalId"),
            username: text("userName"),
            email,
            name,
        }
    }

    /// `Missing params: [:extern_uid, :email, :username]`, in that order, or `None`.
    pub fn missing(&self) -> Option<String> {
        let missing: Vec<&str> = [
            (":extern_uid", self.extern_uid.is_none()),
            (":email", self.email.is_none()),
            (":username", self.username.is_none()),
        ]
        .into_iter()
        .filter(|(_, missing)| *missing)
        .map(|(name, _)| name)
        .collect();
        (!missing.is_empty()).then(|| format!("Missing params: [{}]", missing.join(", ")))
    }
}

/// What a PATCH asks for (`ParamsParser#update_params`): the `replace`/`add` operations in
/// order, later ones winning; each one's `path`, or without one the first key of its `value`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    pub active: Option<Value>,
    pub extern_uid: Option<String>,
}

impl Update {
    pub fn parse(params: &Ordered) -> Self {
        let mut update = Self::default();
        let Some(Ordered::Array(operations)) = params.get("Operations") else {
            return update;
        };
        for operation in operations {
            let op = operation
                .get("op")
                .and_then(Ordered::as_str)
                .map(str::to_lowercase);
            if !matches!(op.as_deref(), Some("replace" | "add")) {
                continue;
            }
            let (path, value) = match (operation.get("path"), operation.get("value")) {
                (Some(Ordered::String(path)), Some(value)) => (path.clone(), value.clone()),
                (None | Some(Ordered::Null), Some(Ordered::Hash(entries))) => {
                    match entries.first() {
                        Some((path, value)) => (path.clone(), value.clone()),
                        None => continue,
                    }
                }
                _ => continue,
            };
            match map(&path) {
                Some(Attribute::Active) => update.active = Some(parse_value(&value)),
                Some(Attribute::ExternUid) => {
                    update.extern_uid = parse_value(&value).text();
                }
                _ => {}
            }
        }
        update
    }

    /// `deprovision_user?`: `active` was set to `false`.
    pub fn deprovisions(&self) -> bool {
        self.active == Some(Value::Bool(false))
    }
}

/// A supported filter (`FilterParser`): `<attribute> eq <value>`, split on whitespace, the
/// rest ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    ExternUid(String),
    Username(String),
}

/// `None` for GitLab's 412 `Unsupported Filter`.
pub fn parse_filter(filter: &str) -> Option<Filter> {
    let mut parts = filter.split_whitespace();
    let (attribute, operator, value) = (parts.next()?, parts.next()?, parts.next()?);
    if operator != "eq" {
        return None;
    }
    let value = parse_value(&Ordered::String(value.to_owned())).text()?;
    match map(attribute)? {
        Attribute::ExternUid => Some(Filter::ExternUid(value)),
        Attribute::Username => Some(Filter::Username(value)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ordered(json: &str) -> Ordered {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn filters_split_as_gitlab_splits_them() {
        assert_eq!(
            parse_filter(r#"userName eq "jane@example.com""#),
            Some(Filter::Username("jane@example.com".into()))
        );
        assert_eq!(
            parse_filter(r#"userName eq "a" and externalId eq "b""#),
            Some(Filter::Username("a".into()))
        );
        assert_eq!(
            parse_filter(r#"externalId eq "x-1""#),
            Some(Filter::ExternUid("x-1".into()))
        );
        assert_eq!(
            parse_filter(r#"id eq 7"#),
            Some(Filter::ExternUid("7".into()))
        );
        for unsupported in [
            r#"id ne "x""#,
            r#"userName Eq "x""#,
            r#"displayName eq "x""#,
            r#"emails[type eq "work"].value eq "x""#,
            "userName eq",
            "",
        ] {
            assert_eq!(parse_filter(unsupported), None, "{unsupported}");
        }
    }

    #[test]
    fn creates_read_the_work_or_primary_email_and_the_name() {
        let parsed = Provisioning::parse(&ordered(
            r#"{"externalId":"e1","userName":"jd","emails":[{"type":"home","value":"h@x"},{"primary":"True","value":"p@x"}],
                "name":{"givenName":"Jane","familyName":"Doe"}}"#,
        ));
        assert_eq!(parsed.email.as_deref(), Some("p@x"));
        assert_eq!(parsed.name.as_deref(), Some("Jane Doe"));
        assert_eq!(parsed.missing(), None);
        let parsed = Provisioning::parse(&ordered(r#"{"userName":"jd","externalId":""}"#));
        assert_eq!(
            parsed.missing().as_deref(),
            Some("Missing params: [:extern_uid, :email]")
        );
    }

    #[test]
    fn patches_read_okta_and_entra_operations() {
        let okta = Update::parse(&ordered(
            r#"{"Operations":[{"op":"replace","value":{"active":false}}]}"#,
        ));
        assert!(okta.deprovisions());
        let entra = Update::parse(&ordered(
            r#"{"Operations":[{"op":"Replace","path":"active","value":"False"},
                              {"op":"Remove","path":"active","value":"True"},
                              {"op":"Add","path":"externalId","value":"new"}]}"#,
        ));
        assert!(entra.deprovisions());
        assert_eq!(entra.extern_uid.as_deref(), Some("new"));
        let ignored = Update::parse(&ordered(
            r#"{"Operations":[{"op":"replace","path":"name.givenName","value":"X"},
                              {"op":"Update","path":"active","value":false}]}"#,
        ));
        assert_eq!(ignored, Update::default());
    }
}
