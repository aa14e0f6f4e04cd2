//! Message templates: reusable texts with `{{variable}}` placeholders, unique by name per
//! tenant, and the renderer the send path uses for templates and per-contact personalisation.

use std::collections::BTreeSet;

use flit_storage::{Batch, Scan, codec};
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::EngineError;
use crate::ids::{TemplateId, TenantId};
use crate::layout;
use crate::model::{UnixMillis, now_millis};

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

/// The distinct placeholder names of `content`, in order of first use.
pub fn variables(content: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut names = Vec::new();
    let mut rest = content;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        if !name.is_empty() && seen.insert(name.to_string()) {
            names.push(name.to_string());
        }
        rest = &after[end + 2..];
    }
    names
}

/// Fills every `{{name}}` from `value`; the first name it cannot fill is the error.
pub fn render(content: &str, value: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push_str(&rest[..start]);
        let name = after[..end].trim();
        match value(name) {
            Some(filled) => out.push_str(&filled),
            None => return Err(name.to_string()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn name_key(tenant: TenantId, name: &str) -> Vec<u8> {
    let mut key = layout::tenant_key(tenant);
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
            .get(layout::TEMPLATE_NAMES, &name_key(tenant, name))?
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
            layout::TEMPLATES,
            layout::owned_key(tenant, record.id.to_bytes()),
            codec::encode(&record),
        );
        batch.put(
            layout::TEMPLATE_NAMES,
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
                .get(layout::TEMPLATE_NAMES, &name_key(tenant, &record.name))?
                .is_some()
            {
                return Err(template_exists(&record.name));
            }
            batch.delete(layout::TEMPLATE_NAMES, name_key(tenant, &old_name));
            batch.put(
                layout::TEMPLATE_NAMES,
                name_key(tenant, &record.name),
                codec::encode(&record.id),
            );
        }
        record.updated_at = now_millis();
        batch.put(
            layout::TEMPLATES,
            layout::owned_key(tenant, record.id.to_bytes()),
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
            layout::TEMPLATES,
            layout::owned_key(tenant, record.id.to_bytes()),
        );
        batch.delete(layout::TEMPLATE_NAMES, name_key(tenant, &record.name));
        self.store().commit(batch).await?;
        Ok(())
    }

    pub fn template(
        &self,
        tenant: TenantId,
        id: TemplateId,
    ) -> Result<Option<TemplateRecord>, EngineError> {
        self.get(layout::TEMPLATES, &layout::owned_key(tenant, id.to_bytes()))
    }

    /// The tenant's templates, oldest first.
    pub fn templates(&self, tenant: TenantId) -> Result<Vec<TemplateRecord>, EngineError> {
        self.scan_all(Scan::prefix(layout::TEMPLATES, &layout::tenant_key(tenant)))
    }
}

fn template_exists(name: &str) -> EngineError {
    EngineError::Conflict {
        code: "template_exists",
        message: format!("a template named `{name}` already exists"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_once_each_and_trimmed() {
        assert_eq!(
            variables("Hi {{ name }}, your code is {{code}}. Bye {{name}}!"),
            ["name", "code"]
        );
        assert!(variables("no placeholders {{ }} or {{unclosed").is_empty());
    }

    #[test]
    fn render_fills_or_names_the_missing_variable() {
        let value = |name: &str| (name == "name").then(|| "Ama".to_string());
        assert_eq!(
            render("Hi {{name}}, welcome!", value).as_deref(),
            Ok("Hi Ama, welcome!")
        );
        assert_eq!(
            render("Hi {{name}} {{code}}", value),
            Err("code".to_string())
        );
        assert_eq!(render("{{unclosed", value).as_deref(), Ok("{{unclosed"));
    }
}
