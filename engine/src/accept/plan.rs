//! Planning a send: its text (given or a template's) checked once, every recipient source
//! resolved, normalised and deduped, texts rendered per contact and segmented (each distinct
//! text once), and the whole priced. Nothing is written or charged here.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{
    CHUNK, CONTACT_VARIABLES, Content, MAX_EXPLICIT_RECIPIENTS, MAX_RECIPIENT_INPUT_BYTES,
    MAX_TOTAL_RECIPIENTS, SendRequest,
};
use crate::engine::{Engine, read};
use crate::error::{EngineError, Invalid, Missing, Unavailable};
use crate::ids::TenantId;
use crate::numbers::{Country, Msisdn, Validation};
use crate::store::records::ContactRecord;
use crate::tenants::TenantEntry;
use crate::tenants::credits::{credits_for, too_costly};
use crate::text::{self, TextInfo};

/// One recipient of a planned send.
pub(super) struct Planned {
    pub(super) msisdn: Msisdn,
    /// Its own text when personalised; `None` = the message text.
    pub(super) text: Option<Arc<str>>,
    pub(super) parts: u16,
}

/// A send, resolved and priced, not yet charged.
pub(super) struct Plan {
    pub(super) text: String,
    pub(super) info: TextInfo,
    pub(super) recipients: Vec<Planned>,
    pub(super) invalid: Vec<String>,
    pub(super) parts: i64,
    pub(super) price: i64,
}

impl Plan {
    pub(super) fn credits(&self) -> Result<i64, EngineError> {
        credits_for(self.parts, self.price)
    }
}

/// The tenant settings a plan needs, copied once.
pub(super) struct Settings {
    price: i64,
    max_parts: usize,
    validation: Validation,
    country: Country,
}

impl Settings {
    /// The tenant's price and limits, and its number rules (its own `numberValidation`, else
    /// what the calling API asks).
    fn of(entry: &TenantEntry, asked: Option<Validation>) -> Settings {
        let (country, validation) = crate::book::number_rules(entry, asked);
        let record = read(&entry.record);
        Settings {
            price: record.price_per_part,
            max_parts: record.max_parts as usize,
            validation,
            country,
        }
    }
}

impl Engine {
    /// Resolves and prices a send without charging it; contact sources are read off the async
    /// threads.
    pub(super) async fn plan_send(
        &self,
        tenant: TenantId,
        entry: &Arc<TenantEntry>,
        request: Arc<SendRequest>,
    ) -> Result<Plan, EngineError> {
        let settings = Settings::of(entry, request.validation);
        if request.uses_contacts() {
            let engine = self.clone();
            tokio::task::spawn_blocking(move || engine.plan(tenant, &settings, &request))
                .await
                .map_err(|_| EngineError::from(Unavailable::Interrupted))?
        } else {
            self.plan(tenant, &settings, &request)
        }
    }

    fn plan(
        &self,
        tenant: TenantId,
        settings: &Settings,
        request: &SendRequest,
    ) -> Result<Plan, EngineError> {
        let text = match &request.content {
            Content::Template(template) => {
                self.template(tenant, *template)?
                    .ok_or(EngineError::NotFound(Missing::Template))?
                    .content
            }
            Content::Text(text) => text.clone(),
        };
        if text.is_empty() {
            return Err(EngineError::from(Invalid::EmptyMessage));
        }
        let placeholders = crate::text::template::variables(&text);
        if let Some(missing) = placeholders.iter().find(|name| {
            !CONTACT_VARIABLES.contains(&name.as_str()) && !request.variables.contains_key(*name)
        }) {
            return Err(EngineError::from(Invalid::MissingVariable(missing.clone())));
        }
        if request.recipients.len() > MAX_EXPLICIT_RECIPIENTS {
            return Err(EngineError::from(Invalid::TooManyNumbers {
                given: request.recipients.len(),
                max: MAX_EXPLICIT_RECIPIENTS,
            }));
        }
        let mut builder = PlanBuilder {
            base: &text,
            personalised: !placeholders.is_empty(),
            variables: &request.variables,
            settings,
            seen: HashSet::new(),
            recipients: Vec::new(),
            invalid: Vec::new(),
            parts: 0,
            infos: HashMap::new(),
        };
        for raw in &request.recipients {
            if raw.len() > MAX_RECIPIENT_INPUT_BYTES {
                let shown: String = raw.chars().take(MAX_RECIPIENT_INPUT_BYTES).collect();
                builder.invalid.push(format!("{shown}…"));
                continue;
            }
            match Msisdn::parse(raw, settings.country, settings.validation) {
                Ok(number) => builder.add(number, None)?,
                Err(_) => builder.invalid.push(raw.clone()),
            }
        }
        if !request.contact_ids.is_empty() {
            for contact in self.contacts_by_ids(tenant, &request.contact_ids)? {
                builder.add(contact.phone, Some(&contact))?;
            }
        }
        for group in &request.group_ids {
            self.for_each_group_contact(tenant, *group, CHUNK, |contacts| {
                contacts
                    .iter()
                    .try_for_each(|contact| builder.add(contact.phone, Some(contact)))
            })?;
        }
        if request.all_contacts {
            self.for_each_contact(tenant, CHUNK, |contacts| {
                contacts
                    .iter()
                    .try_for_each(|contact| builder.add(contact.phone, Some(contact)))
            })?;
        }
        let PlanBuilder {
            recipients,
            invalid,
            parts,
            infos,
            ..
        } = builder;
        if recipients.is_empty() {
            return Err(if invalid.is_empty() {
                EngineError::from(Invalid::NoRecipients)
            } else {
                EngineError::from(Invalid::NoValidRecipients(invalid))
            });
        }
        // Segmented once: a text sent as it is was analysed for its first recipient.
        let info = match infos.get(text.as_str()) {
            Some(info) => *info,
            None => text::analyse(&text),
        };
        Ok(Plan {
            text,
            info,
            recipients,
            invalid,
            parts,
            price: settings.price,
        })
    }
}

pub(super) fn analyse_text(text: &str, max_parts: usize) -> Result<TextInfo, EngineError> {
    if text.is_empty() {
        return Err(EngineError::from(Invalid::EmptyMessage));
    }
    let info = text::analyse(text);
    text::check_max_parts(&info, max_parts)
        .map_err(|error| EngineError::from(Invalid::MessageTooLong(error)))?;
    Ok(info)
}

/// Collects recipients from every source: dedupes, renders, segments and counts parts.
struct PlanBuilder<'a> {
    base: &'a str,
    personalised: bool,
    variables: &'a HashMap<String, String>,
    settings: &'a Settings,
    seen: HashSet<Msisdn>,
    recipients: Vec<Planned>,
    invalid: Vec<String>,
    parts: i64,
    /// Segmentation of each distinct text seen (most sends have one).
    infos: HashMap<Arc<str>, TextInfo>,
}

impl PlanBuilder<'_> {
    fn add(&mut self, msisdn: Msisdn, contact: Option<&ContactRecord>) -> Result<(), EngineError> {
        if !self.seen.insert(msisdn) {
            return Ok(());
        }
        if self.recipients.len() >= MAX_TOTAL_RECIPIENTS {
            return Err(EngineError::from(Invalid::TooManyRecipients {
                max: MAX_TOTAL_RECIPIENTS,
            }));
        }
        let text: Option<Arc<str>> = if self.personalised {
            let rendered = crate::text::template::render(self.base, |name| {
                contact_value(name, msisdn, contact).or_else(|| self.variables.get(name).cloned())
            })
            .map_err(|missing| EngineError::from(Invalid::UnfilledVariable(missing)))?;
            Some(Arc::from(rendered))
        } else {
            None
        };
        let key: Arc<str> = text.clone().unwrap_or_else(|| Arc::from(self.base));
        let info = match self.infos.get(&key) {
            Some(info) => *info,
            None => {
                let info = analyse_text(&key, self.settings.max_parts)?;
                if self.infos.len() < 4096 {
                    self.infos.insert(key, info);
                }
                info
            }
        };
        self.parts = self
            .parts
            .checked_add(info.parts as i64)
            .ok_or_else(too_costly)?;
        self.recipients.push(Planned {
            msisdn,
            text,
            parts: info.parts as u16,
        });
        Ok(())
    }
}

/// A contact field for a placeholder; an explicit number fills only `{{phone}}`, and a
/// contact's missing field renders empty.
fn contact_value(name: &str, msisdn: Msisdn, contact: Option<&ContactRecord>) -> Option<String> {
    match name {
        "phone" => Some(msisdn.to_string()),
        "firstName" => Some(
            contact
                .and_then(|c| c.first_name.clone())
                .unwrap_or_default(),
        ),
        "lastName" => Some(
            contact
                .and_then(|c| c.last_name.clone())
                .unwrap_or_default(),
        ),
        "email" => Some(contact.and_then(|c| c.email.clone()).unwrap_or_default()),
        _ => None,
    }
}
