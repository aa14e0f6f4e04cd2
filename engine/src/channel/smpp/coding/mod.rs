//! How text becomes `short_message` bytes and back: the SMPP side of coding. The GSM 03.38
//! alphabet and the split into parts belong to [`crate::text`]; the `data_coding` and
//! `esm_class` values both directions share are here, the rest by concern:
//!
//! - `encode`: outbound `data_coding`, TON/NPI, concatenation (UDH, SAR or `message_payload`).
//! - `packing`: septet packing and unpacking with UDH fill bits.
//! - `deliver`: reading a `deliver_sm`: alphabet, receipt or message, the fragment of a part.
//! - `reassembly`: holding fragments until their message is complete.

mod deliver;
mod encode;
mod packing;
mod reassembly;

#[cfg(test)]
mod tests;

// Only what the rest of the channel names is re-exported (fuzz targets and benches reach it
// through the `testing` hooks); the rest stays inside coding, where its tests reach it.
pub use deliver::{DeliverContent, Fragment, alphabet, fragment_from, receipt_from};
pub use encode::{EncodedPart, Sar, destination_address, encode_message, source_address};
pub use reassembly::{Reassembler, decode_units};

/// `data_coding` values Flit sends.
pub const DATA_CODING_DEFAULT: u8 = 0x00;
pub const DATA_CODING_LATIN1: u8 = 0x03;
pub const DATA_CODING_UCS2: u8 = 0x08;

/// `esm_class` bit: `short_message` starts with a user data header.
pub const ESM_UDHI: u8 = 0x40;
/// `esm_class` message type: SMSC delivery receipt.
pub const ESM_DELIVERY_RECEIPT: u8 = 0x04;
/// `esm_class` message type: intermediate delivery notification (also a receipt, mostly ENROUTE).
pub const ESM_INTERMEDIATE_NOTIFICATION: u8 = 0x20;
