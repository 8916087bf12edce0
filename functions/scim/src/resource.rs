//! What SCIM clients read: GitLab's User resource (`EE::API::Entities::Scim::User`) and its
//! list (`Scim::Users`), as `application/scim+json`.

use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use gl_model::ScimIdentity;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// The User resource, fields in GitLab's entity's order. `id` is the identity's `extern_uid`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User<'a> {
    schemas: [&'static str; 1],
    id: &'a str,
    active: bool,
    emails: [Email<'a>; 1],
    name: Name<'a>,
    meta: Meta,
    user_name: &'a str,
}

#[derive(Debug, Serialize)]
struct Email<'a> {
    r#type: &'static str,
    value: &'a str,
    primary: bool,
}

/// `formatted` is the user's name; `givenName` and `familyName` split it as GitLab's
/// `User#first_name` and `#last_name` do (the first word, and the rest).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Name<'a> {
    formatted: &'a str,
    given_name: &'a str,
    family_name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    resource_type: &'static str,
}

impl<'a> From<&'a ScimIdentity> for User<'a> {
    fn from(identity: &'a ScimIdentity) -> Self {
        let mut words = identity.name.split_whitespace();
        let given_name = words.next().unwrap_or_default();
        let family_name = words.collect::<Vec<_>>().join(" ");
        Self {
            schemas: [USER_SCHEMA],
            id: &identity.extern_uid,
            active: identity.active,
            emails: [Email {
                r#type: "work",
                value: &identity.email,
                primary: true,
            }],
            name: Name {
                formatted: &identity.name,
                given_name,
                family_name,
            },
            meta: Meta {
                resource_type: "User",
            },
            user_name: &identity.username,
        }
    }
}

/// A ListResponse: `totalResults` counts every match, `itemsPerPage` is the page size asked
/// for (not how many came back), `startIndex` the index asked for; all JSON integers.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<'a> {
    schemas: [&'static str; 1],
    total_results: usize,
    items_per_page: i64,
    start_index: i64,
    #[serde(rename = "Resources")]
    resources: Vec<User<'a>>,
}

impl<'a> ListResponse<'a> {
    pub fn new(
        total_results: usize,
        items_per_page: i64,
        start_index: i64,
        page: &'a [ScimIdentity],
    ) -> Self {
        Self {
            schemas: [LIST_SCHEMA],
            total_results,
            items_per_page,
            start_index,
            resources: page.iter().map(User::from).collect(),
        }
    }
}

pub fn scim_json(status: StatusCode, body: &impl Serialize) -> Response {
    gl_http::error::scim_json(status, body)
}
