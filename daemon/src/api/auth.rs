//! The TCP listener's token: `Authorization: Bearer`, or for browsers (which cannot set
//! headers on a WebSocket) a `token` query parameter or `hearken_token` cookie.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::error::Refusal;
use crate::config::Secret;

/// `router` answering only requests that carry `token`.
pub fn require(router: Router, token: Secret) -> Router {
    router.layer(axum::middleware::from_fn_with_state(Arc::new(token), check))
}

async fn check(State(token): State<Arc<Secret>>, request: Request, next: Next) -> Response {
    let given = presented(&request);
    match given {
        Some(given) if same(given.as_bytes(), token.expose().as_bytes()) => next.run(request).await,
        Some(_) => Refusal::new(StatusCode::UNAUTHORIZED, "bad_token", "the token is wrong")
            .into_response(),
        None => Refusal::new(
            StatusCode::UNAUTHORIZED,
            "no_token",
            "this listener needs a token: `Authorization: Bearer TOKEN`",
        )
        .into_response(),
    }
}

fn presented(request: &Request) -> Option<String> {
    let headers = request.headers();
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_string());
    }
    let query = Query::<HashMap<String, String>>::try_from_uri(request.uri());
    if let Some(token) = query.ok().and_then(|Query(mut q)| q.remove("token")) {
        return Some(token);
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("hearken_token="))
        .map(str::to_string)
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}
