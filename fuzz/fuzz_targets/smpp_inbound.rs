//! Bytes from an SMSC's socket through Flit's session layer: framing, PDU decoding, and the
//! classification a bound session runs on each frame (`submit_sm_resp` ids, receipts, inbound
//! messages and their reassembly). The first byte picks how the bind lays out GSM-7. Nothing
//! may panic; a receipt always has an id that matching can use, and stray parts stay bounded.

#![no_main]

use flit_engine::testing::smpp::coding::Reassembler;
use flit_engine::testing::smpp::{Delivery, Gsm7Mode, normalise_smsc_id};
use flit_engine::testing::smpp::{Inbound, classify, read_frames};
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
    let (frames, _error) = read_frames(bytes);
    // Every frame is at least a 16-octet header.
    assert!(frames.len() <= bytes.len() / 16);
    let read = frames.len();
    let now = Instant::now();
    for frame in frames {
        match classify(frame, gsm7, &mut reassembler, now) {
            Inbound::DeliverSm {
                delivery: Some(Delivery::Receipt(receipt)),
                ..
            } => {
                assert!(!receipt.smsc_message_id.trim().is_empty());
                assert!(!normalise_smsc_id(&receipt.smsc_message_id).is_empty());
            }
            Inbound::DeliverSm {
                delivery: Some(Delivery::Sms(sms)),
                ..
            } => assert!(sms.parts >= 1),
            Inbound::DeliverSm { delivery: None, .. }
            | Inbound::SubmitSmResp { .. }
            | Inbound::GenericNack { .. }
            | Inbound::EnquireLink { .. }
            | Inbound::EnquireLinkResp { .. }
            | Inbound::Unbind { .. }
            | Inbound::Unsupported { .. }
            | Inbound::Unexpected { .. }
            | Inbound::MalformedOperation(_)
            | Inbound::MalformedSubmitSmResp(_)
            | Inbound::MalformedResponse(_) => {}
        }
    }
    assert!(reassembler.pending() <= read);
});
