//! API keys: created with a secret shown once, stored as its SHA-256, looked up by that hash
//! in memory on every request, revoked in memory before the revocation is durable.

use flit_storage::Batch;

use crate::engine::Engine;
use crate::error::{EngineError, Missing};
use crate::ids::{ApiKeyId, TenantId};
use crate::secrets;
use crate::store::records::{ApiKeyRecord, Scopes, now_millis};
use crate::store::tables;

impl Engine {
    /// Creates a key; the secret is returned once and never stored.
    pub async fn create_api_key(
        &self,
        tenant: TenantId,
        name: String,
        scopes: Scopes,
    ) -> Result<(ApiKeyRecord, String), EngineError> {
        self.entry(tenant)?;
        let secret = secrets::generate_secret(secrets::API_KEY_PREFIX);
        let record = ApiKeyRecord {
            id: ApiKeyId::new(),
            tenant,
            name,
            scopes,
            secret_hash: secrets::sha256(secret.as_bytes()),
            hint: secrets::hint(&secret),
            created_at: now_millis(),
            revoked_at: None,
        };
        let mut batch = Batch::new();
        tables::API_KEYS.put(&mut batch, &record.id, &record);
        self.store().commit(batch).await?;
        self.keys_by_hash()
            .insert(record.secret_hash, record.clone());
        Ok((record, secret))
    }

    pub async fn revoke_api_key(&self, tenant: TenantId, key: ApiKeyId) -> Result<(), EngineError> {
        let mut record = tables::API_KEYS
            .get(self.store(), &key)?
            .filter(|record| record.tenant == tenant)
            .ok_or(EngineError::NotFound(Missing::ApiKey))?;
        if record.revoked_at.is_some() {
            return Ok(());
        }
        record.revoked_at = Some(now_millis());
        let mut batch = Batch::new();
        tables::API_KEYS.put(&mut batch, &key, &record);
        // Revoke in memory first: a revoked key must stop working even if the write is slow.
        self.keys_by_hash().remove(&record.secret_hash);
        self.store().commit(batch).await?;
        Ok(())
    }

    pub fn api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyRecord>, EngineError> {
        Ok(tables::API_KEYS
            .values(self.store(), &())?
            .into_iter()
            .filter(|key| key.tenant == tenant)
            .collect())
    }

    /// The live key whose secret this is, if any.
    pub fn authenticate(&self, secret: &str) -> Option<ApiKeyRecord> {
        let hash = secrets::sha256(secret.as_bytes());
        self.keys_by_hash().get(&hash).map(|record| record.clone())
    }
}
