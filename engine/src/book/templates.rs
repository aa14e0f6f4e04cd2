//! Message templates: reusable texts with `{{variable}}` placeholders, unique by name per
//! tenant (the renderer is `text::template`).

use flit_storage::Batch;

use crate::engine::Engine;
use crate::error::{Conflict, EngineError, Invalid, Missing};
use crate::ids::{TemplateId, TenantId};
use crate::store::NameKey;
use crate::store::records::{TemplateRecord, now_millis};
use crate::store::tables;

/// Longest template text: more than any message may be (918 GSM-7 characters) leaves room for
/// placeholders that render shorter.
pub const MAX_TEMPLATE_CHARS: usize = 2000;
pub const MAX_TEMPLATE_NAME_CHARS: usize = 100;

/// The key that makes a template name unique within its tenant.
fn name_key(tenant: TenantId, name: &str) -> (TenantId, NameKey) {
    (tenant, NameKey::of(name))
}

fn check(name: &str, content: &str) -> Result<(), EngineError> {
    if name.is_empty() || name.chars().count() > MAX_TEMPLATE_NAME_CHARS {
        return Err(EngineError::from(Invalid::TemplateName {
            max: MAX_TEMPLATE_NAME_CHARS,
        }));
    }
    if content.is_empty() || content.chars().count() > MAX_TEMPLATE_CHARS {
        return Err(EngineError::from(Invalid::TemplateContent {
            max: MAX_TEMPLATE_CHARS,
        }));
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
        if tables::TEMPLATE_NAMES
            .get(self.store(), &name_key(tenant, name))?
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
        tables::TEMPLATES.put(&mut batch, &(tenant, record.id), &record);
        tables::TEMPLATE_NAMES.put(&mut batch, &name_key(tenant, name), &record.id);
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
            .ok_or(EngineError::NotFound(Missing::Template))?;
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
            if tables::TEMPLATE_NAMES
                .get(self.store(), &name_key(tenant, &record.name))?
                .is_some()
            {
                return Err(template_exists(&record.name));
            }
            tables::TEMPLATE_NAMES.delete(&mut batch, &name_key(tenant, &old_name));
            tables::TEMPLATE_NAMES.put(&mut batch, &name_key(tenant, &record.name), &record.id);
        }
        record.updated_at = now_millis();
        tables::TEMPLATES.put(&mut batch, &(tenant, record.id), &record);
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
            .ok_or(EngineError::NotFound(Missing::Template))?;
        let mut batch = Batch::new();
        tables::TEMPLATES.delete(&mut batch, &(tenant, record.id));
        tables::TEMPLATE_NAMES.delete(&mut batch, &name_key(tenant, &record.name));
        self.store().commit(batch).await?;
        Ok(())
    }

    pub fn template(
        &self,
        tenant: TenantId,
        id: TemplateId,
    ) -> Result<Option<TemplateRecord>, EngineError> {
        Ok(tables::TEMPLATES.get(self.store(), &(tenant, id))?)
    }

    /// The tenant's templates, oldest first.
    pub fn templates(&self, tenant: TenantId) -> Result<Vec<TemplateRecord>, EngineError> {
        Ok(tables::TEMPLATES.values(self.store(), &tenant)?)
    }
}

fn template_exists(name: &str) -> EngineError {
    EngineError::from(Conflict::TemplateExists(name.to_string()))
}
