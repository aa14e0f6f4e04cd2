//! Request extractors that turn every malformed input into an `ApiError` in the native
//! shape (axum's own rejections answer plain text).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use flit_engine::IdempotencyClaim;
use flit_engine::secrets::sha256;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body of type `T`, plus its raw bytes (idempotency fingerprints hash them).
pub struct JsonBody<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !media_type(request.headers()).is_some_and(|essence| is_json(&essence)) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let raw = read_body(request, state).await?;
        let value = parse_json(&raw)?;
        Ok(JsonBody { value, raw })
    }
}

/// The whole body, within the server's size limit (413 past it).
pub async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the request body is larger than this server accepts",
                )
            } else {
                ApiError::bad_request("invalid_body", "the request body could not be read")
            }
        })
}

pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(raw).map_err(|error| {
        use serde_json::error::Category;
        match error.classify() {
            Category::Data => {
                ApiError::bad_request("invalid_request", format!("invalid request: {error}"))
            }
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request("invalid_json", format!("malformed JSON: {error}"))
            }
        }
    })
}

/// The `Content-Type` without its parameters, lower-cased (`application/json`); `None` when
/// the header is absent or not text.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    Some(essence.to_ascii_lowercase())
}

/// `application/json`, or a JSON-based type such as `application/merge-patch+json`.
pub fn is_json(essence: &str) -> bool {
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A path parameter; a segment that is not valid UTF-8 answers in the native error shape.
pub struct PathParam<T>(pub T);

impl<T, S> FromRequestParts<S> for PathParam<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| PathParam(value))
            .map_err(|rejection| {
                ApiError::bad_request("invalid_path", format!("invalid path: {rejection}"))
            })
    }
}

/// Who chose an `Idempotency-Key`: the tenant's own keys and the operator's live apart, so
/// one can never replay (or collide with) the other's answer.
#[derive(Clone, Copy)]
pub enum IdempotencyScope {
    Tenant,
    Admin,
}

/// The `Idempotency-Key` header (1–255 visible ASCII characters) and the body it came with.
pub fn idempotency_claim(
    headers: &HeaderMap,
    scope: IdempotencyScope,
    body: &[u8],
) -> Result<Option<IdempotencyClaim>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|key| {
            !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_idempotency_key",
                "`Idempotency-Key` must be 1 to 255 visible ASCII characters",
            )
        })?;
    let namespace: &[u8] = match scope {
        IdempotencyScope::Tenant => b"tenant:",
        IdempotencyScope::Admin => b"admin:",
    };
    Ok(Some(IdempotencyClaim {
        key_hash: sha256(&[namespace, key.as_bytes()].concat()),
        fingerprint: sha256(body),
    }))
}

/// The query string as name → value pairs; typed parsing is the handler's, so each bad
/// parameter gets its own message.
pub struct QueryParams(pub Vec<(String, String)>);

impl QueryParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }

    /// A whole number in `min..=max`, or `default` when absent.
    pub fn number(&self, name: &str, default: u32, min: u32, max: u32) -> Result<u32, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        match raw.trim().parse::<u32>() {
            Ok(value) if (min..=max).contains(&value) => Ok(value),
            _ => Err(ApiError::bad_request(
                "invalid_query",
                format!("`{name}` must be a whole number from {min} to {max}"),
            )),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs = form_pairs(query).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                "the query string is not valid percent-encoded UTF-8",
            )
        })?;
        Ok(QueryParams(pairs))
    }
}

/// Decodes `a=1&b=x%20y` (a query string, or an `application/x-www-form-urlencoded` body) by
/// hand: name and value, percent-decoding, `+` as space; `None` when it is not valid
/// percent-encoded UTF-8.
pub fn form_pairs(input: &str) -> Option<Vec<(String, String)>> {
    input
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((percent_decode(name)?, percent_decode(value)?))
        })
        .collect()
}

fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_are_percent_decoded() {
        let pairs = form_pairs("a=1&b=x%20y+z&c").expect("valid query");
        assert_eq!(
            pairs,
            vec![
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "x y z".to_string()),
                ("c".to_string(), String::new())
            ]
        );
        assert!(form_pairs("a=%zz").is_none());
        assert!(form_pairs("a=%ff").is_none());
    }
}
