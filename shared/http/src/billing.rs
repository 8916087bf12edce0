//! Authentication for CustomersDot's billing endpoints
//! (`GitlabSubscriptions::API::Internal::Auth`): CustomersDot's JWT in
//! `X-Customers-Dot-Internal-Token`, or else (deprecated) an admin personal access token as
//! the admin endpoints take it ([`crate::admin`]). The header's presence picks the credential,
//! as GitLab's router does: a request carrying the header is judged on the JWT alone.

use axum::http::{HeaderMap, Method};
use gl_auth::customers_dot::CUSTOMERS_DOT_HEADER;
use gl_store::StoreError;

use crate::admin::{Gate, TokenAuthenticated, authenticate_user_gated};
use crate::error::{log_refusal, refused};
use crate::{ApiError, AppState, Params};

/// Who a billing request comes from.
#[derive(Debug, Clone)]
pub enum BillingCaller {
    /// CustomersDot, by a JWT the portal's key set verifies.
    CustomersDot,
    /// An admin, by a personal access token.
    Admin(Box<TokenAuthenticated>),
    /// A user who is no admin, by a personal access token: only for endpoints that
    /// [`Serve::AdminsAndOthers`], which then decide (a namespace's owners).
    User(Box<TokenAuthenticated>),
}

/// Whom an endpoint serves besides CustomersDot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serve {
    /// `authenticated_as_admin!`: a non-admin's token is 403.
    Admins,
    /// Admins, and non-admins the endpoint itself then checks.
    AdminsAndOthers,
}

/// Authenticates a billing request with the endpoint's reads riding along, as
/// [`crate::admin::authenticate_admin_alongside`] does for tokens (`first` beside the token, `then` beside
/// the user). A JWT needs no store read: `first` and `then` run once it is verified. Any JWT
/// failure, a function without `CUSTOMERS_DOT_URL` and a portal that cannot be reached
/// included, is GitLab's plain 401, never a 500.
pub async fn authenticate_billing_alongside<A, B, FA, FB>(
    serve: Serve,
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    params: &Params,
    first: FA,
    then: impl FnOnce(A) -> FB,
) -> Result<(BillingCaller, B), ApiError>
where
    FA: Future<Output = Result<A, StoreError>>,
    FB: Future<Output = Result<B, StoreError>>,
{
    authenticate_billing_gated(None, serve, state, method, headers, params, first, then).await
}

/// [`authenticate_billing_alongside`] behind `gate`, which answers before any credential is
/// judged (the upcoming reconciliations' GitLab.com check). The settings it needs are read
/// beside a token, or beside `first` and the JWT's verification: no round of their own.
#[allow(clippy::too_many_arguments)]
pub async fn authenticate_billing_gated<A, B, FA, FB>(
    gate: Option<Gate>,
    serve: Serve,
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    params: &Params,
    first: FA,
    then: impl FnOnce(A) -> FB,
) -> Result<(BillingCaller, B), ApiError>
where
    FA: Future<Output = Result<A, StoreError>>,
    FB: Future<Output = Result<B, StoreError>>,
{
    let Some(token) = headers.get(CUSTOMERS_DOT_HEADER) else {
        let (caller, found) =
            authenticate_user_gated(gate, state, method, headers, params, first, then).await?;
        return match (caller.user.admin, serve) {
            (true, _) => Ok((BillingCaller::Admin(Box::new(caller)), found)),
            (false, Serve::AdminsAndOthers) => Ok((BillingCaller::User(Box::new(caller)), found)),
            (false, Serve::Admins) => Err(ApiError::Forbidden(None)),
        };
    };
    let verified = async {
        const JWT: &str = "CustomersDot JWT";
        let verifier = state
            .customers_dot
            .as_ref()
            .ok_or_else(|| refused(JWT, "no portal configured"))?;
        let token = token.to_str().map_err(|_| refused(JWT, "not text"))?;
        verifier.verify(token).await.map_err(|err| {
            log_refusal(JWT, &err);
            ApiError::Unauthorized
        })
    };
    let first = match gate {
        None => {
            verified.await?;
            first.await?
        }
        Some(gate) => {
            let (settings, verified, first) =
                tokio::join!(state.repo.identity().settings(), verified, first);
            gate(&settings?)?;
            verified?;
            first?
        }
    };
    let found = then(first).await?;
    Ok((BillingCaller::CustomersDot, found))
}
