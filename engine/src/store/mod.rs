//! What the engine stores and where: every table with its keys, and the records in them.

pub mod records;
pub mod tables;
