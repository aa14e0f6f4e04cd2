//! Request bodies as Flowstates clients send them. The seed's own example is
//! `curl --data '{ "to": "+61…", //comment … }'`: curl sends that as
//! `application/x-www-form-urlencoded`, with its newlines and with a `//` comment after each
//! field. So a body is read as JSON with `//` and `/* */` comments (outside string literals)
//! when its type is JSON, or a form whose body is JSON, or absent; a form body that is not JSON
//! (`to=%2B61…&message=…&sender=…`) is read as its fields. Any other type answers 415.

use std::borrow::Cow;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::extract::{form_pairs, is_json, media_type, parse_json, read_body};

/// A body of type `T` read as above, plus its raw bytes (idempotency fingerprints hash them).
pub struct LenientBody<T> {
    pub value: T,
    pub raw: Bytes,
}

/// How a body is to be read, from its `Content-Type`.
enum Encoding {
    Json,
    /// `application/x-www-form-urlencoded`: JSON when it looks like JSON (curl's `--data`).
    Form,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for LenientBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let encoding = if request.headers().contains_key(header::CONTENT_TYPE) {
            match media_type(request.headers()) {
                Some(essence) if is_json(&essence) => Encoding::Json,
                Some(essence) if essence == "application/x-www-form-urlencoded" => Encoding::Form,
                _ => {
                    return Err(ApiError::new(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "unsupported_media_type",
                        "send the body as JSON (`Content-Type: application/json`) or as a form \
                         (`application/x-www-form-urlencoded`)",
                    ));
                }
            }
        } else {
            Encoding::Json
        };
        let raw = read_body(request, state).await?;
        let value = match encoding {
            Encoding::Form if !looks_like_json(&raw) => parse_form(&raw)?,
            Encoding::Json | Encoding::Form => parse_object(&without_comments(&raw)?)?,
        };
        Ok(LenientBody { value, raw })
    }
}

/// A form body is JSON when its first non-blank byte opens a JSON value or a comment: no form
/// field name starts with one of these.
fn looks_like_json(raw: &[u8]) -> bool {
    raw.iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .is_some_and(|byte| matches!(byte, b'{' | b'[' | b'/'))
}

/// A JSON object as `T`. Only an object: serde would also read a struct from an array, by
/// position, which no client means.
fn parse_object<T: DeserializeOwned>(json: &[u8]) -> Result<T, ApiError> {
    let first = json.iter().find(|byte| !byte.is_ascii_whitespace());
    if first.is_some_and(|byte| *byte != b'{') {
        // Still parsed first, so malformed JSON is told as such.
        parse_json::<serde::de::IgnoredAny>(json)?;
        return Err(ApiError::bad_request(
            "invalid_request",
            "invalid request: the body must be a JSON object",
        ));
    }
    parse_json(json)
}

/// A form's fields as the JSON object of strings `T` is read from, so a missing or extra field
/// answers as it would in JSON. A repeated field keeps its last value.
fn parse_form<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    let fields = std::str::from_utf8(raw)
        .ok()
        .and_then(form_pairs)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_body",
                "the form body is not valid percent-encoded UTF-8",
            )
        })?;
    let object: serde_json::Map<String, serde_json::Value> = fields
        .into_iter()
        .map(|(name, value)| (name, serde_json::Value::String(value)))
        .collect();
    serde_json::from_value(serde_json::Value::Object(object)).map_err(|error| {
        ApiError::bad_request("invalid_request", format!("invalid request: {error}"))
    })
}

/// `raw` with every `//…` and `/*…*/` comment outside a string literal blanked to spaces
/// (newlines kept), so the JSON parser's line and column in an error still point into what
/// the client sent. Bytes are enough: no byte of a multi-byte UTF-8 character is ASCII.
fn without_comments(raw: &[u8]) -> Result<Cow<'_, [u8]>, ApiError> {
    if !raw.contains(&b'/') {
        return Ok(Cow::Borrowed(raw));
    }
    enum State {
        Code,
        String,
        /// Just after a backslash in a string: the next byte is taken as it is.
        Escape,
        LineComment,
        BlockComment,
    }
    let mut out = raw.to_vec();
    let mut state = State::Code;
    let mut i = 0;
    while i < out.len() {
        let byte = out[i];
        let next = out.get(i + 1).copied();
        state = match state {
            State::Code => match (byte, next) {
                (b'"', _) => State::String,
                (b'/', Some(b'/')) => {
                    out[i] = b' ';
                    out[i + 1] = b' ';
                    i += 1;
                    State::LineComment
                }
                (b'/', Some(b'*')) => {
                    out[i] = b' ';
                    out[i + 1] = b' ';
                    i += 1;
                    State::BlockComment
                }
                _ => State::Code,
            },
            State::String => match byte {
                b'\\' => State::Escape,
                b'"' => State::Code,
                _ => State::String,
            },
            State::Escape => State::String,
            State::LineComment => match byte {
                b'\n' | b'\r' => State::Code,
                _ => {
                    out[i] = b' ';
                    State::LineComment
                }
            },
            State::BlockComment => match (byte, next) {
                (b'*', Some(b'/')) => {
                    out[i] = b' ';
                    out[i + 1] = b' ';
                    i += 1;
                    State::Code
                }
                (b'\n' | b'\r', _) => State::BlockComment,
                _ => {
                    out[i] = b' ';
                    State::BlockComment
                }
            },
        };
        i += 1;
    }
    if matches!(state, State::BlockComment) {
        return Err(ApiError::bad_request(
            "invalid_json",
            "malformed JSON: a `/*` comment is never closed",
        ));
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stripped(input: &str) -> String {
        let out = without_comments(input.as_bytes()).expect("closed comments");
        String::from_utf8(out.into_owned()).expect("still UTF-8")
    }

    #[test]
    fn the_seeds_commented_body_reads_as_its_json() {
        let body = "{\n\"to\":\"+6141234567890\", //Desnitation mobile phone number, must be in \
                    international format with leading '+'\n\"message\": \"Hello world!\", \
                    //Message to send*\n\"sender\": \"Flowstates\" //Sender text or shortcode to \
                    be displayed on the user's phone*\n}\n";
        let value: serde_json::Value =
            serde_json::from_str(&stripped(body)).expect("JSON once stripped");
        assert_eq!(
            value,
            serde_json::json!({"to": "+6141234567890", "message": "Hello world!", "sender": "Flowstates"})
        );
    }

    #[test]
    fn comment_markers_inside_strings_stay() {
        let body = r#"{"message": "see http://x.test/*a*/ and \"//quoted\" \\", "b": "/*"} // end"#;
        let value: serde_json::Value =
            serde_json::from_str(&stripped(body)).expect("JSON once stripped");
        assert_eq!(
            value["message"],
            r#"see http://x.test/*a*/ and "//quoted" \"#
        );
        assert_eq!(value["b"], "/*");
    }

    #[test]
    fn block_comments_go_and_positions_stay() {
        let body = "{/* a\nb */\"to\": /* é */ \"+1\"}";
        let out = stripped(body);
        assert_eq!(out.len(), body.len());
        assert_eq!(out.matches('\n').count(), 1);
        let value: serde_json::Value = serde_json::from_str(&out).expect("JSON once stripped");
        assert_eq!(value["to"], "+1");
    }

    #[test]
    fn an_unclosed_block_comment_is_a_400() {
        let error = without_comments(b"{\"to\": \"+1\" /* open").expect_err("refused");
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.code, "invalid_json");
    }

    #[test]
    fn a_body_without_a_slash_is_not_copied() {
        assert!(matches!(
            without_comments(b"{\"a\": 1}"),
            Ok(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn form_bodies_are_json_when_they_look_like_it() {
        assert!(looks_like_json(b"\n  {\"to\": 1}"));
        assert!(looks_like_json(b"// first a comment\n{}"));
        assert!(!looks_like_json(b"to=%2B233201234567&message=hi"));
        assert!(!looks_like_json(b""));
    }
}
