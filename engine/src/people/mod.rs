//! The people who sign in to the console (SPEC §13): each tenant's users (admin or member of
//! that tenant) and the operator's accounts, each with an email and a password kept as its
//! argon2id hash, and their sessions (`sessions.rs`). Emails are unique across everyone,
//! since signing in names no tenant; a user's creation writes its record and its email's
//! index in one batch under the engine's `people` lock.

pub mod sessions;
pub mod setup;

use std::fmt;

use flit_storage::Batch;

use crate::engine::Engine;
use crate::error::{Conflict, EngineError, Invalid, Missing};
use crate::ids::{TenantId, UserId};
use crate::secrets;
use crate::store::records::{Role, UserRecord};
use crate::store::tables;

pub const MAX_USER_EMAIL_CHARS: usize = 254;
pub const MIN_USER_PASSWORD_CHARS: usize = 10;
pub const MAX_USER_PASSWORD_CHARS: usize = 256;
/// Users one tenant may have.
pub const MAX_TENANT_USERS: usize = 200;

/// A person to add: to a tenant with `Admin` or `Member`, as an operator with `Operator`.
#[derive(Clone)]
pub struct NewUser {
    pub email: String,
    pub password: String,
    pub role: Role,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The form an email is stored and looked up in.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn checked_email(email: &str) -> Result<String, EngineError> {
    let email = normalise_email(email);
    let well_formed = email.chars().count() <= MAX_USER_EMAIL_CHARS
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        });
    if !well_formed {
        return Err(Invalid::UserEmail {
            max: MAX_USER_EMAIL_CHARS,
        }
        .into());
    }
    Ok(email)
}

fn check_password(password: &str) -> Result<(), EngineError> {
    let length = password.chars().count();
    if !(MIN_USER_PASSWORD_CHARS..=MAX_USER_PASSWORD_CHARS).contains(&length) {
        return Err(Invalid::UserPassword {
            min: MIN_USER_PASSWORD_CHARS,
            max: MAX_USER_PASSWORD_CHARS,
        }
        .into());
    }
    Ok(())
}

impl Engine {
    /// Adds a person: a user of `tenant` (role admin or member), or with `tenant` `None` an
    /// operator. `Conflict::EmailExists` when anyone has that email.
    pub async fn create_user(
        &self,
        tenant: Option<TenantId>,
        new: NewUser,
    ) -> Result<UserRecord, EngineError> {
        let email = checked_email(&new.email)?;
        check_password(&new.password)?;
        let role = match (tenant, new.role) {
            (None, _) => Role::Operator,
            (Some(_), Role::Operator) => Role::Admin,
            (Some(_), role) => role,
        };
        if let Some(tenant) = tenant {
            self.entry(tenant)?;
        }
        let password_hash = secrets::hash_password_off_thread(new.password).await?;
        let _unique = self.people_lock().lock().await;
        if let Some(tenant) = tenant {
            // Again under the lock: a tenant being deleted clears its users under it.
            self.entry(tenant)?;
            if tables::TENANT_USERS.count(self.store(), &tenant)? as usize >= MAX_TENANT_USERS {
                return Err(Invalid::TooManyUsers {
                    max: MAX_TENANT_USERS,
                }
                .into());
            }
        }
        if tables::USER_EMAILS.get(self.store(), &email)?.is_some() {
            return Err(Conflict::EmailExists(email).into());
        }
        let record = UserRecord {
            id: UserId::new(),
            tenant,
            email,
            password_hash,
            role,
            created_at: self.clock().now_millis(),
        };
        let mut batch = Batch::new();
        tables::USERS.put(&mut batch, &record.id, &record);
        tables::USER_EMAILS.put(&mut batch, &record.email, &record.id);
        match tenant {
            Some(tenant) => tables::TENANT_USERS.insert(&mut batch, &(tenant, record.id)),
            // An operator made another way closes the first-start link for good, so an old
            // link cannot come back to life if every operator is later deleted.
            None => tables::OPERATOR_SETUP.delete(&mut batch),
        }
        self.store().commit(batch).await?;
        Ok(record)
    }

    /// A tenant's users, oldest first.
    pub fn users(&self, tenant: TenantId) -> Result<Vec<UserRecord>, EngineError> {
        self.entry(tenant)?;
        let mut users = Vec::new();
        for id in tables::TENANT_USERS.tails::<16>(self.store(), &tenant)? {
            if let Some(user) = tables::USERS.get(self.store(), &UserId::from_bytes(id))? {
                users.push(user);
            }
        }
        Ok(users)
    }

    /// The operator's accounts, oldest first.
    pub fn operators(&self) -> Result<Vec<UserRecord>, EngineError> {
        Ok(tables::USERS
            .values(self.store(), &())?
            .into_iter()
            .filter(|user| user.tenant.is_none())
            .collect())
    }

    /// One person, if `tenant` (or the operator, for `None`) is theirs.
    pub fn user(&self, tenant: Option<TenantId>, id: UserId) -> Result<UserRecord, EngineError> {
        tables::USERS
            .get(self.store(), &id)?
            .filter(|user| user.tenant == tenant)
            .ok_or(EngineError::NotFound(Missing::User))
    }

    /// Removes a person and ends every session of theirs.
    pub async fn delete_user(
        &self,
        tenant: Option<TenantId>,
        id: UserId,
    ) -> Result<(), EngineError> {
        let _unique = self.people_lock().lock().await;
        let user = self.user(tenant, id)?;
        self.end_sessions(id).await?;
        let mut batch = Batch::new();
        tables::USERS.delete(&mut batch, &id);
        tables::USER_EMAILS.delete(&mut batch, &user.email);
        if let Some(tenant) = tenant {
            tables::TENANT_USERS.remove(&mut batch, &(tenant, id));
        }
        self.store().commit(batch).await?;
        Ok(())
    }

    /// Deletes every user of a tenant being deleted, with their sessions; how many went.
    pub(crate) async fn delete_tenant_users(&self, tenant: TenantId) -> Result<u64, EngineError> {
        let users: Vec<UserId> = tables::TENANT_USERS
            .tails::<16>(self.store(), &tenant)?
            .into_iter()
            .map(UserId::from_bytes)
            .collect();
        for id in &users {
            self.delete_user(Some(tenant), *id).await?;
        }
        Ok(users.len() as u64)
    }

    /// The person `email` and `password` name, if they match: `None` for an unknown email or
    /// a wrong password, which take the same time. Whether the tenant is suspended is the
    /// caller's to check.
    pub async fn check_password(
        &self,
        email: &str,
        password: &str,
    ) -> Result<Option<UserRecord>, EngineError> {
        let email = normalise_email(email);
        let user = match tables::USER_EMAILS.get(self.store(), &email)? {
            Some(id) => tables::USERS.get(self.store(), &id)?,
            None => None,
        };
        let hash = user.as_ref().map(|user| user.password_hash.clone());
        let matches = secrets::password_matches_off_thread(password.to_string(), hash).await?;
        Ok(user.filter(|user| matches && user.tenant.is_none_or(|t| self.tenant(t).is_some())))
    }
}

#[cfg(test)]
mod tests {
    use flit_storage::BackendKind;

    use super::*;
    use crate::{EngineConfig, NewTenant};

    fn person(email: &str, role: Role) -> NewUser {
        NewUser {
            email: email.into(),
            password: "correct horse battery".into(),
            role,
        }
    }

    #[tokio::test]
    async fn people_sign_in_with_their_own_password_and_their_sessions_end_with_them() {
        let dir = tempfile::tempdir().expect("dir");
        let engine = Engine::open(dir.path(), BackendKind::Redb, EngineConfig::default())
            .await
            .expect("engine");
        let tenant = engine
            .create_tenant(NewTenant {
                name: "Acme".into(),
                ..NewTenant::default()
            })
            .await
            .expect("tenant")
            .id;
        let ama = engine
            .create_user(Some(tenant), person(" Ama@Acme.example", Role::Admin))
            .await
            .expect("user");
        assert_eq!(
            (ama.email.as_str(), ama.role),
            ("ama@acme.example", Role::Admin)
        );
        let taken = engine
            .create_user(None, person("AMA@acme.example", Role::Operator))
            .await
            .expect_err("emails are unique across tenants and operators");
        assert!(matches!(
            taken,
            EngineError::Conflict(Conflict::EmailExists(_))
        ));
        let ops = engine
            .create_user(None, person("ops@flit.example", Role::Member))
            .await
            .expect("operator");
        assert_eq!((ops.role, ops.tenant), (Role::Operator, None));
        assert!(
            !ama.password_hash.contains("correct horse"),
            "only the hash is kept"
        );

        let signed = engine
            .check_password("ama@acme.example", "correct horse battery")
            .await
            .expect("check");
        assert_eq!(signed.map(|user| user.id), Some(ama.id));
        for (email, password) in [
            ("ama@acme.example", "wrong horse battery"),
            ("nobody@acme.example", "correct horse battery"),
        ] {
            assert!(
                engine
                    .check_password(email, password)
                    .await
                    .expect("check")
                    .is_none()
            );
        }

        let first = engine.start_session(&ama).await.expect("session");
        let second = engine.start_session(&ama).await.expect("session");
        let (user, session) = engine.session(&first.token).expect("read").expect("live");
        assert_eq!(
            (user.id, session.csrf.as_str()),
            (ama.id, first.csrf.as_str())
        );
        assert_ne!(first.csrf, second.csrf, "a CSRF token per session");
        assert!(engine.session("fs_not_a_session").expect("read").is_none());
        engine.end_session(&first.token).await.expect("sign out");
        assert!(engine.session(&first.token).expect("read").is_none());
        assert!(engine.session(&second.token).expect("read").is_some());

        // Deleting a person ends every session of theirs and frees the email.
        engine
            .delete_user(Some(tenant), ama.id)
            .await
            .expect("delete");
        assert!(engine.session(&second.token).expect("read").is_none());
        assert!(engine.users(tenant).expect("users").is_empty());
        engine
            .create_user(Some(tenant), person("ama@acme.example", Role::Member))
            .await
            .expect("the email is free again");
        assert!(matches!(
            engine.delete_user(Some(tenant), ops.id).await,
            Err(EngineError::NotFound(Missing::User))
        ));
    }
}
