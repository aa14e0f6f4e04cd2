//! SMPP accounts (SPEC §14): the `system_id` and password a tenant's own software binds to
//! Flit's SMPP server with, and the limits of its sessions. The password is stored only as
//! its argon2id hash; `system_id`s are unique across tenants (`SMPP_SYSTEM_IDS`), since a
//! bind names no tenant.
//!
//! The limits are SMPP 3.4's: `system_id` and `password` are C-Octet strings of at most 16
//! and 9 octets with their NUL, so 15 and 8 characters. Both are printable ASCII, and a
//! `system_id` has no spaces (one with a trailing space would look like another without).
//! `system_id`s are compared exactly, case included, as an SMSC compares what a bind sends.

use std::fmt;

use flit_storage::Batch;

use crate::engine::Engine;
use crate::error::{Conflict, EngineError, Invalid, Missing};
use crate::ids::{SmppAccountId, TenantId};
use crate::secrets;
use crate::store::records::{SmppAccountRecord, now_millis};
use crate::store::tables;

/// SMPP 3.4: a `system_id` is a C-Octet string of at most 16 octets, its NUL included.
pub const MAX_SMPP_SYSTEM_ID: usize = 15;
/// SMPP 3.4: a `password` is a C-Octet string of at most 9 octets, its NUL included.
pub const MAX_SMPP_PASSWORD: usize = 8;
/// Sessions bound at once: enough for a customer's transmitters and receivers across a few
/// hosts, few enough that one account cannot take the server's connections.
pub const MAX_SMPP_BINDS: u32 = 100;
/// The same bound as a carrier bind's window.
pub const MAX_SMPP_WINDOW: u32 = crate::channel::smpp::config::MAX_WINDOW_SIZE;
/// Submits per second; beyond what one Flit accepts, so no real limit is refused.
pub const MAX_SMPP_TPS: u32 = 100_000;
pub const DEFAULT_SMPP_MAX_BINDS: u32 = 2;
pub const DEFAULT_SMPP_WINDOW: u32 = 100;

/// A new SMPP account; a limit left `None` takes its default (2 binds, a window of 100,
/// unlimited TPS).
#[derive(Clone, Default)]
pub struct NewSmppAccount {
    pub system_id: String,
    /// In clear only until it is hashed.
    pub password: String,
    pub max_binds: Option<u32>,
    pub window: Option<u32>,
    /// 0 = unlimited.
    pub tps: Option<u32>,
}

/// Never the password.
impl fmt::Debug for NewSmppAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSmppAccount")
            .field("system_id", &self.system_id)
            .field("password", &"<redacted>")
            .field("max_binds", &self.max_binds)
            .field("window", &self.window)
            .field("tps", &self.tps)
            .finish()
    }
}

/// The settings of `new`, checked against SMPP's limits, with the defaults filled in.
fn checked(new: &NewSmppAccount) -> Result<(u32, u32, u32), EngineError> {
    let system_id = new.system_id.as_bytes();
    if system_id.is_empty()
        || system_id.len() > MAX_SMPP_SYSTEM_ID
        || !system_id.iter().all(u8::is_ascii_graphic)
    {
        return Err(EngineError::from(Invalid::SmppSystemId {
            max: MAX_SMPP_SYSTEM_ID,
        }));
    }
    let password = new.password.as_bytes();
    if password.is_empty()
        || password.len() > MAX_SMPP_PASSWORD
        || !password.iter().all(|b| matches!(b, b' '..=b'~'))
    {
        return Err(EngineError::from(Invalid::SmppPassword {
            max: MAX_SMPP_PASSWORD,
        }));
    }
    let max_binds = new.max_binds.unwrap_or(DEFAULT_SMPP_MAX_BINDS);
    if !(1..=MAX_SMPP_BINDS).contains(&max_binds) {
        return Err(EngineError::from(Invalid::SmppMaxBinds {
            max: MAX_SMPP_BINDS,
        }));
    }
    let window = new.window.unwrap_or(DEFAULT_SMPP_WINDOW);
    if !(1..=MAX_SMPP_WINDOW).contains(&window) {
        return Err(EngineError::from(Invalid::WindowSize {
            max: MAX_SMPP_WINDOW,
        }));
    }
    let tps = new.tps.unwrap_or(0);
    if tps > MAX_SMPP_TPS {
        return Err(EngineError::from(Invalid::SmppTps { max: MAX_SMPP_TPS }));
    }
    Ok((max_binds, window, tps))
}

impl Engine {
    /// Creates an SMPP account for `tenant`. `Conflict::SystemIdExists` when any tenant has
    /// an account of that `system_id`.
    pub async fn create_smpp_account(
        &self,
        tenant: TenantId,
        new: NewSmppAccount,
    ) -> Result<SmppAccountRecord, EngineError> {
        let (max_binds, window, tps) = checked(&new)?;
        self.entry(tenant)?;
        let NewSmppAccount {
            system_id,
            password,
            ..
        } = new;
        // Hashed before the lock: other creates need not wait for it.
        let password_hash = secrets::hash_password_off_thread(password).await?;
        let _unique = self.smpp_accounts_lock().lock().await;
        // Again under the lock: a tenant being deleted clears its accounts under it.
        self.entry(tenant)?;
        if tables::SMPP_SYSTEM_IDS
            .get(self.store(), &system_id)?
            .is_some()
        {
            return Err(EngineError::from(Conflict::SystemIdExists(system_id)));
        }
        let record = SmppAccountRecord {
            id: SmppAccountId::new(),
            tenant,
            system_id,
            password_hash,
            max_binds,
            window,
            tps,
            created_at: now_millis(),
        };
        let mut batch = Batch::new();
        tables::SMPP_ACCOUNTS.put(&mut batch, &(tenant, record.id), &record);
        tables::SMPP_SYSTEM_IDS.put(&mut batch, &record.system_id, &(tenant, record.id));
        self.store().commit(batch).await?;
        self.notify().smpp.account_added(tenant, record.id);
        Ok(record)
    }

    /// The tenant's SMPP accounts, oldest first.
    pub fn smpp_accounts(&self, tenant: TenantId) -> Result<Vec<SmppAccountRecord>, EngineError> {
        self.entry(tenant)?;
        Ok(tables::SMPP_ACCOUNTS.values(self.store(), &tenant)?)
    }

    /// Deletes one of the tenant's SMPP accounts; `NotFound(SmppAccount)` for an id that is
    /// not the tenant's.
    pub async fn delete_smpp_account(
        &self,
        tenant: TenantId,
        id: SmppAccountId,
    ) -> Result<(), EngineError> {
        self.entry(tenant)?;
        let _unique = self.smpp_accounts_lock().lock().await;
        let record = tables::SMPP_ACCOUNTS
            .get(self.store(), &(tenant, id))?
            .ok_or(Missing::SmppAccount)?;
        let mut batch = Batch::new();
        tables::SMPP_ACCOUNTS.delete(&mut batch, &(tenant, id));
        tables::SMPP_SYSTEM_IDS.delete(&mut batch, &record.system_id);
        self.store().commit(batch).await?;
        // The record is gone, so no new bind authenticates; those already bound end here.
        self.forget_smpp_account(tenant, id).await
    }

    /// Deletes every SMPP account of a tenant being deleted, with its `system_id`, so the
    /// name is free again. Answers how many went.
    pub(crate) async fn delete_tenant_smpp_accounts(
        &self,
        tenant: TenantId,
    ) -> Result<u64, EngineError> {
        /// Accounts per commit: two deletions each.
        const CHUNK: usize = 1_000;
        let _unique = self.smpp_accounts_lock().lock().await;
        let accounts = tables::SMPP_ACCOUNTS.values(self.store(), &tenant)?;
        for chunk in accounts.chunks(CHUNK) {
            let mut batch = Batch::new();
            for account in chunk {
                tables::SMPP_ACCOUNTS.delete(&mut batch, &(tenant, account.id));
                tables::SMPP_SYSTEM_IDS.delete(&mut batch, &account.system_id);
            }
            self.store().commit(batch).await?;
            for account in chunk {
                self.forget_smpp_account(tenant, account.id).await?;
            }
        }
        Ok(accounts.len() as u64)
    }

    /// Whether the account is still stored (a bind authenticated just before its deletion is
    /// refused).
    pub(crate) fn smpp_account_exists(&self, account: &SmppAccountRecord) -> bool {
        tables::SMPP_ACCOUNTS
            .get(self.store(), &(account.tenant, account.id))
            .is_ok_and(|record| record.is_some())
    }

    /// The account a bind's `system_id` and `password` name, if they match one: `None` for
    /// an unknown `system_id` or a wrong password, which take the same time. Whether the
    /// account's tenant is suspended is the caller's to check. Slow by design (an argon2id
    /// verification, run off the async threads): once per bind.
    pub async fn authenticate_smpp(
        &self,
        system_id: &str,
        password: &str,
    ) -> Result<Option<SmppAccountRecord>, EngineError> {
        let account = match tables::SMPP_SYSTEM_IDS.get(self.store(), &system_id.to_string())? {
            Some(key) => tables::SMPP_ACCOUNTS.get(self.store(), &key)?,
            None => None,
        };
        let hash = account
            .as_ref()
            .map(|account| account.password_hash.clone());
        let matches = secrets::password_matches_off_thread(password.to_string(), hash).await?;
        Ok(account.filter(|account| matches && self.tenant(account.tenant).is_some()))
    }
}

#[cfg(test)]
mod tests {
    use flit_storage::BackendKind;

    use super::*;
    use crate::{EngineConfig, NewTenant};

    async fn engine_with_tenants(dir: &std::path::Path) -> (Engine, TenantId, TenantId) {
        let engine = Engine::open(dir, BackendKind::Redb, EngineConfig::default())
            .await
            .expect("engine opens");
        let mut tenants = Vec::new();
        for name in ["Acme", "Other"] {
            let tenant = engine
                .create_tenant(NewTenant {
                    name: name.into(),
                    ..NewTenant::default()
                })
                .await
                .expect("tenant");
            tenants.push(tenant.id);
        }
        (engine, tenants[0], tenants[1])
    }

    fn account(system_id: &str, password: &str) -> NewSmppAccount {
        NewSmppAccount {
            system_id: system_id.into(),
            password: password.into(),
            ..NewSmppAccount::default()
        }
    }

    #[tokio::test]
    async fn a_bind_authenticates_with_the_right_password_only() {
        let dir = tempfile::tempdir().expect("dir");
        let (engine, acme, _) = engine_with_tenants(dir.path()).await;
        let created = engine
            .create_smpp_account(acme, account("acme_esme", "s3cret"))
            .await
            .expect("created");
        assert_eq!(
            (created.max_binds, created.window, created.tps),
            (DEFAULT_SMPP_MAX_BINDS, DEFAULT_SMPP_WINDOW, 0)
        );
        assert!(created.password_hash.starts_with("$argon2id$"));
        assert!(!created.password_hash.contains("s3cret"));

        let found = engine
            .authenticate_smpp("acme_esme", "s3cret")
            .await
            .expect("checked")
            .expect("the account");
        assert_eq!((found.id, found.tenant), (created.id, acme));
        for (system_id, password) in [
            ("acme_esme", "s3creT"),
            ("acme_esme", ""),
            ("ACME_ESME", "s3cret"),
            ("nobody", "s3cret"),
        ] {
            assert_eq!(
                engine
                    .authenticate_smpp(system_id, password)
                    .await
                    .expect("checked"),
                None,
                "{system_id}/{password}"
            );
        }

        engine
            .delete_smpp_account(acme, created.id)
            .await
            .expect("deleted");
        assert_eq!(
            engine
                .authenticate_smpp("acme_esme", "s3cret")
                .await
                .expect("checked"),
            None,
            "a deleted account binds no more"
        );
        engine.shutdown().await;
    }

    #[tokio::test]
    async fn system_ids_are_unique_across_tenants_and_accounts_stay_with_their_tenant() {
        let dir = tempfile::tempdir().expect("dir");
        let (engine, acme, other) = engine_with_tenants(dir.path()).await;
        let created = engine
            .create_smpp_account(acme, account("shared", "pw"))
            .await
            .expect("created");
        assert!(matches!(
            engine.create_smpp_account(other, account("shared", "pw2")).await,
            Err(EngineError::Conflict(Conflict::SystemIdExists(id))) if id == "shared"
        ));
        assert!(matches!(
            engine.delete_smpp_account(other, created.id).await,
            Err(EngineError::NotFound(Missing::SmppAccount))
        ));
        assert!(engine.smpp_accounts(other).expect("listed").is_empty());
        assert_eq!(engine.smpp_accounts(acme).expect("listed"), vec![created]);
        assert!(matches!(
            engine.smpp_accounts(TenantId::new()),
            Err(EngineError::NotFound(Missing::Tenant))
        ));
        engine.shutdown().await;
    }

    #[test]
    fn the_limits_are_smpp_3_4s() {
        let ok = |new: NewSmppAccount| checked(&new).is_ok();
        assert!(ok(account("a", "p")));
        assert!(ok(account("fifteen_chars__", "8 chars!")));
        assert!(!ok(account("sixteen_chars___", "p")));
        assert!(!ok(account("", "p")));
        assert!(!ok(account("with space", "p")));
        assert!(!ok(account("tab\t", "p")));
        assert!(!ok(account("ünï", "p")));
        assert!(!ok(account("a", "")));
        assert!(!ok(account("a", "nine char")));
        assert!(!ok(account("a", "nul\0")));
        let limits = |max_binds, window, tps| NewSmppAccount {
            max_binds: Some(max_binds),
            window: Some(window),
            tps: Some(tps),
            ..account("a", "p")
        };
        assert!(ok(limits(1, 1, 0)));
        assert!(ok(limits(MAX_SMPP_BINDS, MAX_SMPP_WINDOW, MAX_SMPP_TPS)));
        assert!(!ok(limits(0, 1, 0)));
        assert!(!ok(limits(MAX_SMPP_BINDS + 1, 1, 0)));
        assert!(!ok(limits(1, 0, 0)));
        assert!(!ok(limits(1, MAX_SMPP_WINDOW + 1, 0)));
        assert!(!ok(limits(1, 1, MAX_SMPP_TPS + 1)));
    }

    #[test]
    fn the_password_never_shows_in_debug() {
        let shown = format!("{:?}", account("esme", "hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
