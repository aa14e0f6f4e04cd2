//! Console sessions: a random token in the person's cookie, stored only as its SHA-256, with
//! the CSRF token every form of the session must carry. A session ends at sign-out, at its
//! expiry, when its person signs out everywhere, and when its person is deleted.

use std::time::Duration;

use flit_storage::Batch;

use crate::engine::Engine;
use crate::error::EngineError;
use crate::ids::UserId;
use crate::secrets;
use crate::store::records::{SessionRecord, UserRecord};
use crate::store::tables;

/// How long a session lasts from sign-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// A session just made: the cookie's token (never stored) and the forms' CSRF token.
pub struct NewSession {
    pub token: String,
    pub csrf: String,
    pub expires_at: i64,
}

impl Engine {
    /// Starts a session for `user` (whose password was just checked).
    pub async fn start_session(&self, user: &UserRecord) -> Result<NewSession, EngineError> {
        let token = secrets::generate_secret("fs_");
        let hash = secrets::sha256(token.as_bytes());
        let now = self.clock().now_millis();
        let record = SessionRecord {
            user: user.id,
            csrf: secrets::generate_secret(""),
            created_at: now,
            expires_at: now + SESSION_LIFETIME.as_millis() as i64,
        };
        let mut batch = Batch::new();
        // The person's sessions that ran out go now, so they do not pile up.
        for old in tables::USER_SESSIONS.tails::<32>(self.store(), &user.id)? {
            let expired = tables::SESSIONS
                .get(self.store(), &old)?
                .is_none_or(|session| session.expires_at <= now);
            if expired {
                tables::SESSIONS.delete(&mut batch, &old);
                tables::USER_SESSIONS.remove(&mut batch, &(user.id, old));
            }
        }
        tables::SESSIONS.put(&mut batch, &hash, &record);
        tables::USER_SESSIONS.insert(&mut batch, &(user.id, hash));
        self.store().commit(batch).await?;
        Ok(NewSession {
            token,
            csrf: record.csrf,
            expires_at: record.expires_at,
        })
    }

    /// The person and session a cookie's token names, while it lasts and its person exists.
    pub fn session(&self, token: &str) -> Result<Option<(UserRecord, SessionRecord)>, EngineError> {
        let hash = secrets::sha256(token.as_bytes());
        let Some(session) = tables::SESSIONS.get(self.store(), &hash)? else {
            return Ok(None);
        };
        if session.expires_at <= self.clock().now_millis() {
            return Ok(None);
        }
        let user = tables::USERS.get(self.store(), &session.user)?;
        Ok(user.map(|user| (user, session)))
    }

    /// Ends the session of `token`.
    pub async fn end_session(&self, token: &str) -> Result<(), EngineError> {
        let hash = secrets::sha256(token.as_bytes());
        let Some(session) = tables::SESSIONS.get(self.store(), &hash)? else {
            return Ok(());
        };
        let mut batch = Batch::new();
        tables::SESSIONS.delete(&mut batch, &hash);
        tables::USER_SESSIONS.remove(&mut batch, &(session.user, hash));
        Ok(self.store().commit(batch).await?)
    }

    /// Ends every session of `user` ("sign out everywhere", or the user deleted).
    pub async fn end_sessions(&self, user: UserId) -> Result<(), EngineError> {
        let mut batch = Batch::new();
        for hash in tables::USER_SESSIONS.tails::<32>(self.store(), &user)? {
            tables::SESSIONS.delete(&mut batch, &hash);
            tables::USER_SESSIONS.remove(&mut batch, &(user, hash));
        }
        if !batch.is_empty() {
            self.store().commit(batch).await?;
        }
        Ok(())
    }
}
