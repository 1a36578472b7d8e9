//! The HTTP calls to a provider, and what their answers mean: a 5xx, a timeout or a refused
//! connection is [`ProviderError::Unavailable`]; an OAuth error body is
//! [`ProviderError::Refused`]; anything else that does not parse is [`ProviderError::Invalid`].
//! Error texts name the call and the status, never a token, a secret or a response body.

use base64::Engine as _;
use gatehouse_core::oauth::{ProviderError, Secret, TokenSet};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::config::ClientAuth;

/// The most of a provider's answer that is read.
const MAX_BODY_BYTES: usize = 256 * 1024;

fn unavailable(error: reqwest::Error) -> ProviderError {
    // Without the URL: it is ours and adds nothing, and a query could carry more than it should.
    ProviderError::Unavailable(crate::worker::error_chain(&error.without_url()))
}

async fn body(response: reqwest::Response) -> Result<(reqwest::StatusCode, Vec<u8>), ProviderError> {
    let status = response.status();
    let mut response = response;
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_BODY_BYTES {
            return Err(ProviderError::Invalid(format!("the answer is over {MAX_BODY_BYTES} bytes")));
        }
    }
    Ok((status, bytes))
}

/// GET `url` (with a bearer token) and parse the JSON answer.
pub(super) async fn get_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
) -> Result<T, ProviderError> {
    let mut request = http.get(url).header(reqwest::header::ACCEPT, "application/json");
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(unavailable)?;
    let (status, bytes) = body(response).await?;
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(ProviderError::Unavailable(format!("GET answered {status}")));
    }
    if !status.is_success() {
        return Err(ProviderError::Invalid(format!("GET answered {status}")));
    }
    serde_json::from_slice(&bytes)
        .map_err(|error| ProviderError::Invalid(format!("GET answered unexpected JSON: {error}")))
}

/// What a token endpoint is asked for.
pub(super) enum Grant<'a> {
    Code { code: &'a str, redirect_uri: &'a str, verifier: &'a str },
    Refresh { refresh_token: &'a str },
}

/// A token endpoint's successful answer.
#[derive(Deserialize)]
pub(super) struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<serde_json::Value>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub id_token: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenResponse(<redacted>)")
    }
}

impl TokenResponse {
    pub fn into_set(self, now: OffsetDateTime) -> TokenSet {
        // Some providers send `expires_in` as a string.
        let expires_in = match &self.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_i64(),
            Some(serde_json::Value::String(text)) => text.parse().ok(),
            _ => None,
        };
        TokenSet {
            access_token: Secret(self.access_token),
            refresh_token: self.refresh_token.filter(|token| !token.is_empty()).map(Secret),
            expires_at: expires_in.filter(|secs| *secs > 0).map(|secs| now + time::Duration::seconds(secs)),
            // GitHub separates scopes with commas, the RFC with spaces.
            scopes: self
                .scope
                .map(|scope| scope.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_owned).collect()),
        }
    }
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
}

/// A token (or revocation) endpoint and the client's credentials for it.
pub(super) struct TokenEndpoint<'a> {
    pub http: &'a reqwest::Client,
    pub url: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub auth: ClientAuth,
}

impl TokenEndpoint<'_> {
    async fn post(&self, mut form: Vec<(&str, &str)>) -> Result<(reqwest::StatusCode, Vec<u8>), ProviderError> {
        let mut request = self.http.post(self.url).header(reqwest::header::ACCEPT, "application/json");
        match self.auth {
            ClientAuth::Basic => {
                // RFC 6749 section 2.3.1: each part form-encoded before the Basic encoding.
                let encode = |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
                let pair = format!("{}:{}", encode(self.client_id), encode(self.client_secret));
                let value = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair));
                request = request.header(reqwest::header::AUTHORIZATION, value);
            }
            ClientAuth::Post => {
                form.push(("client_id", self.client_id));
                form.push(("client_secret", self.client_secret));
            }
        }
        let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let response = request
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(encoded)
            .send()
            .await
            .map_err(unavailable)?;
        body(response).await
    }

    pub async fn call(&self, grant: Grant<'_>) -> Result<TokenResponse, ProviderError> {
        let form = match grant {
            Grant::Code { code, redirect_uri, verifier } => vec![
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier),
            ],
            Grant::Refresh { refresh_token } => vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token)],
        };
        let (status, bytes) = self.post(form).await?;
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(ProviderError::Unavailable(format!("the token endpoint answered {status}")));
        }
        // GitHub answers errors with 200 and an `error` field.
        if let Ok(refused) = serde_json::from_slice::<ErrorResponse>(&bytes) {
            return Err(ProviderError::Refused { error: refused.error.chars().take(64).collect() });
        }
        if !status.is_success() {
            return Err(ProviderError::Invalid(format!("the token endpoint answered {status}")));
        }
        serde_json::from_slice::<TokenResponse>(&bytes)
            .map_err(|_| ProviderError::Invalid("the token endpoint's answer has no access_token".into()))
    }

    /// RFC 7009: 200 means revoked (or already invalid).
    pub async fn revoke(&self, token: &str, hint: &str) -> Result<(), ProviderError> {
        let (status, bytes) = self.post(vec![("token", token), ("token_type_hint", hint)]).await?;
        if status.is_success() {
            return Ok(());
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(ProviderError::Unavailable(format!("the revocation endpoint answered {status}")));
        }
        let error = serde_json::from_slice::<ErrorResponse>(&bytes).map_or_else(|_| status.to_string(), |e| e.error);
        Err(ProviderError::Refused { error: error.chars().take(64).collect() })
    }
}
