//! The address book: contacts, groups and their members, imports, and message templates.

pub mod contacts;
pub mod templates;
