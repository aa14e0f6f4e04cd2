//! SMPP 3.4 `command_status` values (§5.1.3) Flit sends or reads, for both sides: the client
//! binds to carriers (`session/`, `pdu.rs`) and the server its customers bind to
//! (`smpp_server/`).

pub const OK: u32 = 0x00;
pub const INVALID_MESSAGE_LENGTH: u32 = 0x01;
pub const INVALID_COMMAND_LENGTH: u32 = 0x02;
pub const INVALID_COMMAND_ID: u32 = 0x03;
pub const INVALID_BIND_STATUS: u32 = 0x04;
pub const ALREADY_BOUND: u32 = 0x05;
pub const SYSTEM_ERROR: u32 = 0x08;
pub const INVALID_SOURCE_ADDRESS: u32 = 0x0A;
pub const INVALID_DESTINATION_ADDRESS: u32 = 0x0B;
pub const BIND_FAILED: u32 = 0x0D;
pub const INVALID_PASSWORD: u32 = 0x0E;
pub const MESSAGE_QUEUE_FULL: u32 = 0x14;
pub const SUBMIT_FAILED: u32 = 0x45;
pub const THROTTLED: u32 = 0x58;
/// `ESME_RX_T_APPN`: an ESME asks to be sent a `deliver_sm` again later.
pub const RX_TEMPORARY: u32 = 0x64;
/// `ESME_RX_R_APPN`: an ESME will never take that `deliver_sm`.
pub const RX_PERMANENT: u32 = 0x65;
