//! A console form as it was posted (`application/x-www-form-urlencoded`, or
//! `multipart/form-data` when it carries a file), read by hand so that repeated fields (several
//! groups ticked) keep every value, and checked for the session's CSRF token before anything
//! else.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};

use super::auth::Viewer;
use super::page::{Problem, problem};

/// A file a form carried: the name of its field and its bytes.
pub struct File {
    pub field: String,
    pub bytes: Vec<u8>,
}

/// The fields of a posted form, in order.
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// Reads `body` and checks its `_csrf` against `viewer`'s session.
    pub fn checked(viewer: &Viewer, body: &Bytes) -> Result<Fields, Problem> {
        let fields = Fields::read(body)?;
        viewer.check_csrf(fields.get("_csrf"))?;
        Ok(fields)
    }

    /// Reads a form that may carry files: its fields (checked for `viewer`'s CSRF token, as
    /// [`Fields::checked`]) and each file's name and bytes, by field name.
    pub fn checked_upload(
        viewer: &Viewer,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<(Fields, Vec<File>), Problem> {
        let boundary = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(super::upload::boundary);
        let Some(boundary) = boundary else {
            return Ok((Fields::checked(viewer, body)?, Vec::new()));
        };
        let parts = super::upload::parts(&boundary, body)
            .ok_or_else(|| problem(StatusCode::BAD_REQUEST, "The form could not be read."))?;
        let mut fields = Vec::new();
        let mut files = Vec::new();
        for part in parts {
            match part.filename {
                Some(_) => files.push(File {
                    field: part.name,
                    bytes: part.body,
                }),
                None => fields.push((
                    part.name,
                    String::from_utf8(part.body).map_err(|_| {
                        problem(StatusCode::BAD_REQUEST, "The form could not be read.")
                    })?,
                )),
            }
        }
        let fields = Fields(fields);
        viewer.check_csrf(fields.get("_csrf"))?;
        Ok((fields, files))
    }

    /// Reads `body` with no session to check it against (the sign-in form).
    pub fn read(body: &Bytes) -> Result<Fields, Problem> {
        std::str::from_utf8(body)
            .ok()
            .and_then(crate::extract::form_pairs)
            .map(Fields)
            .ok_or_else(|| problem(StatusCode::BAD_REQUEST, "The form could not be read."))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first value of `name`, trimmed, or `""`.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().trim().to_string()
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(field, _)| field == name)
            .map(|(_, value)| value.clone())
            .collect()
    }

    pub fn checked_box(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|value| value == "on" || value == "true")
    }
}
