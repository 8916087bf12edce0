//! SCIM's discovery endpoints (RFC 7643 §5–7), which GitLab does not serve: what this server
//! supports, for generic SCIM tooling. They describe exactly what `/Users` does: PATCH and
//! `eq` filters yes; bulk, sort, ETags and password changes no; one resource type, User,
//! whose `active` is the only attribute a PATCH changes (the others are read on create and
//! kept, as GitLab keeps them).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use gl_http::{ApiError, AppState};

use crate::access::{ScimRequest, scim_error};
use crate::resource::{LIST_SCHEMA, USER_SCHEMA, scim_json};

async fn authorized(state: &AppState, request: &ScimRequest) -> Result<(), ApiError> {
    let access = state
        .repo
        .scim()
        .access(&request.base, &request.token_digest())
        .await?;
    request.authorize(access).map(|_| ())
}

fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": resources.len(),
        "itemsPerPage": resources.len(),
        "startIndex": 1,
        "Resources": resources,
    })
}

fn service_provider_config() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://docs.gitlab.com/api/scim/",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": 100},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "The group's or the instance's SCIM token, as Authorization: Bearer <token>",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig"},
    })
}

fn user_resource_type() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "A GitLab user, by its identity provider's externalId",
        "schema": USER_SCHEMA,
        "meta": {"resourceType": "ResourceType"},
    })
}

fn attribute(name: &str, kind: &str, required: bool, mutability: &str) -> Value {
    json!({
        "name": name,
        "type": kind,
        "multiValued": false,
        "required": required,
        "caseExact": false,
        "mutability": mutability,
        "returned": "default",
        "uniqueness": "none",
    })
}

fn user_schema() -> Value {
    let mut user_name = attribute("userName", "string", true, "immutable");
    user_name["uniqueness"] = json!("server");
    let mut external_id = attribute("externalId", "string", true, "immutable");
    external_id["returned"] = json!("never");
    external_id["caseExact"] = json!(true);
    let mut name = attribute("name", "complex", true, "immutable");
    name["subAttributes"] = json!([
        attribute("formatted", "string", true, "immutable"),
        attribute("givenName", "string", false, "immutable"),
        attribute("familyName", "string", false, "immutable"),
    ]);
    let mut email_type = attribute("type", "string", true, "immutable");
    email_type["canonicalValues"] = json!(["work"]);
    let mut emails = attribute("emails", "complex", true, "immutable");
    emails["multiValued"] = json!(true);
    emails["subAttributes"] = json!([
        attribute("value", "string", true, "immutable"),
        email_type,
        attribute("primary", "boolean", true, "immutable"),
    ]);
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "A GitLab user as GitLab's SCIM API shows it",
        "attributes": [
            user_name,
            external_id,
            name,
            emails,
            attribute("active", "boolean", false, "readWrite"),
        ],
        "meta": {"resourceType": "Schema"},
    })
}

pub async fn service_provider(
    State(state): State<AppState>,
    request: ScimRequest,
) -> Result<Response, ApiError> {
    authorized(&state, &request).await?;
    Ok(scim_json(StatusCode::OK, &service_provider_config()))
}

pub async fn resource_types(
    State(state): State<AppState>,
    request: ScimRequest,
) -> Result<Response, ApiError> {
    authorized(&state, &request).await?;
    Ok(scim_json(StatusCode::OK, &list(vec![user_resource_type()])))
}

pub async fn resource_type(
    State(state): State<AppState>,
    request: ScimRequest,
) -> Result<Response, ApiError> {
    authorized(&state, &request).await?;
    match request.path_param("resource_type") {
        Some("User") => Ok(scim_json(StatusCode::OK, &user_resource_type())),
        other => Err(scim_error(
            StatusCode::NOT_FOUND,
            format!("Resource type {} not found", other.unwrap_or_default()),
        )),
    }
}

pub async fn schemas(
    State(state): State<AppState>,
    request: ScimRequest,
) -> Result<Response, ApiError> {
    authorized(&state, &request).await?;
    Ok(scim_json(StatusCode::OK, &list(vec![user_schema()])))
}

pub async fn schema(
    State(state): State<AppState>,
    request: ScimRequest,
) -> Result<Response, ApiError> {
    authorized(&state, &request).await?;
    match request.path_param("schema_id") {
        Some(USER_SCHEMA) => Ok(scim_json(StatusCode::OK, &user_schema())),
        other => Err(scim_error(
            StatusCode::NOT_FOUND,
            format!("Schema {} not found", other.unwrap_or_default()),
        )),
    }
}
