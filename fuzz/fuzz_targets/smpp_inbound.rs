//! Bytes from an SMSC's socket through Flit's session layer: framing, PDU decoding, and what a
//! bound session makes of each frame (`submit_sm_resp` ids, receipts, inbound messages and
//! their reassembly). The first byte picks how the bind lays out GSM-7. Nothing may panic; a
//! receipt always has an id that matching can use, and stray parts stay bounded.

#![no_main]

use flit_engine::testing::smpp::coding::Reassembler;
use flit_engine::testing::smpp::{Gsm7Mode, SessionEvent, normalise_smsc_id};
use flit_engine::testing::smpp::{Inbound, decode_inbound};
use libfuzzer_sys::fuzz_target;
use tokio::time::Instant;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    let gsm7 = match mode % 3 {
        0 => Gsm7Mode::Unpacked,
        1 => Gsm7Mode::Packed,
        _ => Gsm7Mode::Latin1,
    };
    let mut reassembler = Reassembler::new();
    let (read, _error) = decode_inbound(bytes, gsm7, &mut reassembler, Instant::now());
    // Every frame is at least a 16-octet header.
    assert!(read.len() <= bytes.len() / 16);
    for inbound in &read {
        match inbound {
            Inbound::Deliver(Some(SessionEvent::Receipt(receipt))) => {
                assert!(!receipt.smsc_message_id.trim().is_empty());
                assert!(!normalise_smsc_id(&receipt.smsc_message_id).is_empty());
            }
            Inbound::Deliver(Some(SessionEvent::Inbound(sms))) => assert!(sms.parts >= 1),
            Inbound::Deliver(Some(other)) => panic!("a deliver_sm became {other:?}"),
            Inbound::Deliver(None)
            | Inbound::Response { .. }
            | Inbound::Malformed { .. }
            | Inbound::Other(_) => {}
        }
    }
    assert!(reassembler.pending() <= read.len());
});
