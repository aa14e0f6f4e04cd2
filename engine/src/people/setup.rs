//! The first operator account, made through a one-time link instead of the admin token: at a
//! start with no operator, the server asks for a setup token (`open_operator_setup`), prints
//! the link once, and the person who opens it chooses an email and a password
//! (`finish_operator_setup`). Only the token's SHA-256 is stored; it lasts
//! [`SETUP_LINK_LIFETIME`], a new one replaces the last, and it is deleted in the same batch
//! that writes the operator, so it works once even when two people post it at once.

use std::time::Duration;

use flit_storage::Batch;

use crate::engine::Engine;
use crate::error::{Conflict, EngineError};
use crate::ids::UserId;
use crate::secrets;
use crate::store::records::{OperatorSetupRecord, Role, UserRecord};
use crate::store::tables;

use super::{NewUser, check_password, checked_email};

/// How long a setup link works after it was made.
pub const SETUP_LINK_LIFETIME: Duration = Duration::from_secs(24 * 3600);

impl Engine {
    /// A fresh setup token (replacing any earlier one) while no operator account exists;
    /// `None` once one does.
    pub async fn open_operator_setup(&self) -> Result<Option<String>, EngineError> {
        if !self.operators()?.is_empty() {
            return Ok(None);
        }
        let token = secrets::generate_secret("fsu_");
        let record = OperatorSetupRecord {
            token_hash: secrets::sha256(token.as_bytes()),
            expires_at: self.clock().now_millis() + SETUP_LINK_LIFETIME.as_millis() as i64,
        };
        let mut batch = Batch::new();
        tables::OPERATOR_SETUP.put(&mut batch, &record);
        self.store().commit(batch).await?;
        Ok(Some(token))
    }

    /// Whether `token` opens the setup link now (not used, not expired, no operator yet).
    pub fn operator_setup_open(&self, token: &str) -> Result<bool, EngineError> {
        let Some(record) = tables::OPERATOR_SETUP.get(self.store())? else {
            return Ok(false);
        };
        let matches =
            secrets::constant_time_eq(&record.token_hash, &secrets::sha256(token.as_bytes()));
        Ok(
            matches
                && record.expires_at > self.clock().now_millis()
                && self.operators()?.is_empty(),
        )
    }

    /// Makes the first operator account with `token`, and closes the link: `None` when the
    /// token does not open it (wrong, used or expired). The email and password are checked
    /// first, so a mistyped form leaves the link open.
    pub async fn finish_operator_setup(
        &self,
        token: &str,
        new: NewUser,
    ) -> Result<Option<UserRecord>, EngineError> {
        let email = checked_email(&new.email)?;
        check_password(&new.password)?;
        if !self.operator_setup_open(token)? {
            return Ok(None);
        }
        let password_hash = secrets::hash_password_off_thread(new.password).await?;
        let _unique = self.people_lock().lock().await;
        // Again under the lock: of two posts of the same link, the second finds it closed.
        if !self.operator_setup_open(token)? {
            return Ok(None);
        }
        if tables::USER_EMAILS.get(self.store(), &email)?.is_some() {
            return Err(Conflict::EmailExists(email).into());
        }
        let record = UserRecord {
            id: UserId::new(),
            tenant: None,
            email,
            password_hash,
            role: Role::Operator,
            created_at: self.clock().now_millis(),
        };
        let mut batch = Batch::new();
        tables::USERS.put(&mut batch, &record.id, &record);
        tables::USER_EMAILS.put(&mut batch, &record.email, &record.id);
        tables::OPERATOR_SETUP.delete(&mut batch);
        self.store().commit(batch).await?;
        Ok(Some(record))
    }
}
