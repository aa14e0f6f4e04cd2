//! A bind record read as an SMPP session's configuration, checked against SMPP's field limits.

use super::BindConfig;
use crate::error::{EngineError, Invalid};
use crate::store::records::BindRecord;

/// The most submits a bind may have in flight.
pub const MAX_WINDOW_SIZE: u32 = 1000;

/// The session configuration of a bind record, checked against SMPP's field limits.
pub fn bind_config(record: &BindRecord) -> Result<BindConfig, EngineError> {
    if record.name.is_empty() {
        return Err(EngineError::from(Invalid::BindName));
    }
    if record.host.is_empty() || record.port == 0 {
        return Err(EngineError::from(Invalid::BindAddress));
    }
    if record.system_id.is_empty() || record.system_id.len() > 15 {
        return Err(EngineError::from(Invalid::SystemId));
    }
    if record.password.len() > 8 {
        return Err(EngineError::from(Invalid::Password));
    }
    if record.system_type.len() > 12 {
        return Err(EngineError::from(Invalid::SystemType));
    }
    if !(1..=MAX_WINDOW_SIZE).contains(&record.window_size) {
        return Err(EngineError::from(Invalid::WindowSize {
            max: MAX_WINDOW_SIZE,
        }));
    }
    Ok(BindConfig {
        host: record.host.clone(),
        port: record.port,
        system_id: record.system_id.clone(),
        password: record.password.clone(),
        system_type: record.system_type.clone(),
        bind_mode: record.bind_mode,
        window_size: record.window_size as usize,
        tps: record.tps,
        gsm7: record.gsm7,
        concatenation: record.concatenation,
        ..BindConfig::default()
    })
}
