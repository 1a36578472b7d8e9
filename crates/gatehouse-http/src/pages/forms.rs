//! Reading a page's form post and its query string: `application/x-www-form-urlencoded` fields by
//! name, leniently (a browser may add fields; only the known ones are read).

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use http::request::Parts;

use crate::error::ApiError;
use crate::extract::{body_bytes, is_form_post};
use crate::state::AppState;

/// The fields of a form post.
#[derive(Debug, Default)]
pub(crate) struct Form(HashMap<String, String>);

impl Form {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The field's value, or empty.
    pub(crate) fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or_default()
    }
}

fn parse(bytes: &[u8]) -> HashMap<String, String> {
    // The first value of a repeated field wins, as for the CSRF layer's reading of the token.
    let mut fields = HashMap::new();
    for (key, value) in form_urlencoded::parse(bytes) {
        fields.entry(key.into_owned()).or_insert_with(|| value.into_owned());
    }
    fields
}

impl FromRequest<AppState> for Form {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_form_post(request.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        Ok(Self(parse(&body_bytes(request, state).await?)))
    }
}

/// The query string's parameters.
#[derive(Debug, Default)]
pub(crate) struct Query(HashMap<String, String>);

impl Query {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|value| !value.is_empty())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.uri.query().map(|query| parse(query.as_bytes())).unwrap_or_default()))
    }
}
