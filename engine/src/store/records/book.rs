//! The address book: contacts, groups and templates.

use super::*;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ContactRecord {
    pub id: ContactId,
    pub tenant: TenantId,
    pub phone: Msisdn,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// Set by a delete: the record stays for history, but the contact is in no list, group or
    /// send, and its phone is free.
    pub deleted_at: Option<UnixMillis>,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GroupRecord {
    pub id: GroupId,
    pub tenant: TenantId,
    pub name: String,
    pub created_at: UnixMillis,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TemplateRecord {
    pub id: TemplateId,
    pub tenant: TenantId,
    pub name: String,
    pub content: String,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}
