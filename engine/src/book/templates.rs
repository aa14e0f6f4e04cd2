//! Message templates: reusable texts with `{{variable}}` placeholders, unique by name per
//! tenant (the renderer is `text::template`).

use flit_storage::{Batch, Scan, codec};
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::EngineError;
use crate::ids::{TemplateId, TenantId};
use crate::store::records::{UnixMillis, now_millis};
use crate::store::tables;

/// Longest template text: more than any message may be (918 GSM-7 characters) leaves room for
/// placeholders that render shorter.
pub const MAX_TEMPLATE_CHARS: usize = 2000;
pub const MAX_TEMPLATE_NAME_CHARS: usize = 100;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TemplateRecord {
    pub id: TemplateId,
    pub tenant: TenantId,
    pub name: String,
    pub content: String,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

fn name_key(tenant: TenantId, name: &str) -> Vec<u8> {
    let mut key = tables::tenant_key(tenant);
    key.extend_from_slice(name.to_lowercase().as_bytes());
    key
}

fn check(name: &str, content: &str) -> Result<(), EngineError> {
    if name.is_empty() || name.chars().count() > MAX_TEMPLATE_NAME_CHARS {
        return Err(EngineError::invalid(
            "invalid_name",
            format!("`name` must be 1 to {MAX_TEMPLATE_NAME_CHARS} characters"),
        ));
    }
    if content.is_empty() || content.chars().count() > MAX_TEMPLATE_CHARS {
        return Err(EngineError::invalid(
            "invalid_content",
            format!("`content` must be 1 to {MAX_TEMPLATE_CHARS} characters"),
        ));
    }
    Ok(())
}

impl Engine {
    pub async fn create_template(
        &self,
        tenant: TenantId,
        name: &str,
        content: &str,
    ) -> Result<TemplateRecord, EngineError> {
        let name = name.trim();
        check(name, content)?;
        let entry = self.entry(tenant)?;
        let _book = entry.book.lock().await;
        if self
            .store()
            .get(tables::TEMPLATE_NAMES, &name_key(tenant, name))?
            .is_some()
        {
            return Err(template_exists(name));
        }
        let now = now_millis();
        let record = TemplateRecord {
            id: TemplateId::new(),
            tenant,
            name: name.to_string(),
            content: content.to_string(),
            created_at: now,
            updated_at: now,
        };
        let mut batch = Batch::new();
        batch.put(
            tables::TEMPLATES,
            tables::owned_key(tenant, record.id.to_bytes()),
            codec::encode(&record),
        );
        batch.put(
            tables::TEMPLATE_NAMES,
            name_key(tenant, name),
            codec::encode(&record.id),
        );
        self.store().commit(batch).await?;
        Ok(record)
    }

    /// Replaces name and/or content.
    pub async fn update_template(
        &self,
        tenant: TenantId,
        id: TemplateId,
        name: Option<&str>,
        content: Option<&str>,
    ) -> Result<TemplateRecord, EngineError> {
        let entry = self.entry(tenant)?;
        let _book = entry.book.lock().await;
        let mut record = self
            .template(tenant, id)?
            .ok_or(EngineError::NotFound { what: "template" })?;
        let old_name = record.name.clone();
        if let Some(name) = name {
            record.name = name.trim().to_string();
        }
        if let Some(content) = content {
            record.content = content.to_string();
        }
        check(&record.name, &record.content)?;
        let mut batch = Batch::new();
        if record.name.to_lowercase() != old_name.to_lowercase() {
            if self
                .store()
                .get(tables::TEMPLATE_NAMES, &name_key(tenant, &record.name))?
                .is_some()
            {
                return Err(template_exists(&record.name));
            }
            batch.delete(tables::TEMPLATE_NAMES, name_key(tenant, &old_name));
            batch.put(
                tables::TEMPLATE_NAMES,
                name_key(tenant, &record.name),
                codec::encode(&record.id),
            );
        }
        record.updated_at = now_millis();
        batch.put(
            tables::TEMPLATES,
            tables::owned_key(tenant, record.id.to_bytes()),
            codec::encode(&record),
        );
        self.store().commit(batch).await?;
        Ok(record)
    }

    pub async fn delete_template(
        &self,
        tenant: TenantId,
        id: TemplateId,
    ) -> Result<(), EngineError> {
        let entry = self.entry(tenant)?;
        let _book = entry.book.lock().await;
        let record = self
            .template(tenant, id)?
            .ok_or(EngineError::NotFound { what: "template" })?;
        let mut batch = Batch::new();
        batch.delete(
            tables::TEMPLATES,
            tables::owned_key(tenant, record.id.to_bytes()),
        );
        batch.delete(tables::TEMPLATE_NAMES, name_key(tenant, &record.name));
        self.store().commit(batch).await?;
        Ok(())
    }

    pub fn template(
        &self,
        tenant: TenantId,
        id: TemplateId,
    ) -> Result<Option<TemplateRecord>, EngineError> {
        self.get(tables::TEMPLATES, &tables::owned_key(tenant, id.to_bytes()))
    }

    /// The tenant's templates, oldest first.
    pub fn templates(&self, tenant: TenantId) -> Result<Vec<TemplateRecord>, EngineError> {
        self.scan_all(Scan::prefix(tables::TEMPLATES, &tables::tenant_key(tenant)))
    }
}

fn template_exists(name: &str) -> EngineError {
    EngineError::Conflict {
        code: "template_exists",
        message: format!("a template named `{name}` already exists"),
    }
}
