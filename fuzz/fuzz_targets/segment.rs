//! Any text through segmentation and SMPP encoding: `analyse` and `split` agree (the part count
//! priced is the part count sent), the parts hold exactly the text in their encoding, no part is
//! over its size or splits an escape or surrogate pair, and every SMPP layout of the parts reads
//! back as the text through the inbound decoder.

#![no_main]

use flit_engine::testing::smpp::coding::{self, DeliverContent, Reassembler};
use flit_engine::testing::smpp::{Concatenation, Gsm7Mode, InboundSms};
use flit_engine::text::{self, Encoding};
use libfuzzer_sys::fuzz_target;
use tokio::time::Instant;

fuzz_target!(|text: &str| {
    let info = text::analyse(text);
    let split = text::split(text);
    assert_eq!(split.encoding, info.encoding);
    assert_eq!(
        split.parts.len(),
        info.parts,
        "priced and split part counts differ"
    );
    assert_eq!(info.length, text.chars().count());
    let joined: Vec<u8> = split.parts.concat();
    match info.encoding {
        Encoding::Gsm7 => {
            assert!(text::is_gsm7(text));
            let septets = text::gsm7_encode(text).expect("analyse said GSM-7");
            assert_eq!(joined, septets);
            assert_eq!(info.units, septets.len());
            assert_eq!(text::gsm7_decode(&joined), text);
            let limit = if info.parts == 1 {
                text::GSM7_SINGLE
            } else {
                text::GSM7_MULTI
            };
            for part in &split.parts {
                assert!(
                    part.len() <= limit,
                    "a GSM-7 part of {} septets",
                    part.len()
                );
                let trailing_escapes = part.iter().rev().take_while(|s| **s == text::ESC).count();
                assert!(
                    trailing_escapes % 2 == 0,
                    "an escape pair split across parts"
                );
            }
            let packed = text::gsm7_pack(&joined);
            assert_eq!(text::gsm7_unpack(&packed, joined.len()), joined);
        }
        Encoding::Ucs2 => {
            assert!(!text::is_gsm7(text));
            let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
            assert_eq!(joined, utf16);
            assert_eq!(info.units, utf16.len() / 2);
            assert_eq!(text::ucs2_decode(&joined), text);
            let limit = if info.parts == 1 {
                text::UCS2_SINGLE
            } else {
                text::UCS2_MULTI
            };
            for part in &split.parts {
                assert!(
                    part.len() <= 2 * limit,
                    "a UCS-2 part of {} octets",
                    part.len()
                );
                if let [.., high, _] = part.as_slice() {
                    assert!(
                        !(0xD8..=0xDB).contains(high),
                        "a surrogate pair split across parts"
                    );
                }
            }
        }
    }
    if text::check_max_parts(&info, text::DEFAULT_MAX_PARTS).is_err() {
        return;
    }
    for gsm7 in [Gsm7Mode::Unpacked, Gsm7Mode::Packed, Gsm7Mode::Latin1] {
        for concatenation in [
            Concatenation::Udh,
            Concatenation::Sar,
            Concatenation::Payload,
        ] {
            let message = coding::encode_message(text, gsm7, concatenation, 0x1234);
            let expected_parts = match concatenation {
                Concatenation::Payload => 1,
                _ => info.parts,
            };
            assert_eq!(message.parts.len(), expected_parts);
            let mut reassembler = Reassembler::new();
            let mut received: Option<InboundSms> = None;
            // Parts arrive last first: reassembly must not depend on order.
            for part in message.parts.iter().rev() {
                assert!(
                    part.short_message.len() <= 254,
                    "short_message over 254 octets"
                );
                if gsm7 == Gsm7Mode::Packed && message.data_coding == coding::DATA_CODING_DEFAULT {
                    assert!(
                        part.short_message.len() <= 140,
                        "a packed part over 140 octets"
                    );
                }
                let content = DeliverContent {
                    source: "233201234567".into(),
                    destination: "Flit".into(),
                    esm_class: if part.udhi { coding::ESM_UDHI } else { 0 },
                    data_coding: message.data_coding,
                    short_message: part.short_message.clone(),
                    message_payload: part.message_payload.clone(),
                    sar: part.sar,
                    ..DeliverContent::default()
                };
                assert!(!content.is_receipt());
                let fragment = coding::fragment_from(&content, gsm7);
                if let Some(sms) = reassembler.push(fragment, Instant::now()) {
                    assert!(received.is_none(), "a message completed twice");
                    received = Some(sms);
                }
            }
            let sms = received.expect("every part was delivered");
            if gsm7 == Gsm7Mode::Packed && message.data_coding == coding::DATA_CODING_DEFAULT {
                // Packed user data that ends with CR on an octet boundary is ambiguous with CR
                // padding (TS 23.038 §6.1.2.3.1): a final CR is sent doubled, and the CR at the
                // end of a full part is lost to any receiver. Everything else reads back.
                let without_cr = |t: &str| t.replace('\r', "");
                assert_eq!(
                    without_cr(&sms.text),
                    without_cr(text),
                    "{gsm7:?}/{concatenation:?} does not read back"
                );
            } else {
                assert_eq!(
                    sms.text, text,
                    "{gsm7:?}/{concatenation:?} does not read back"
                );
            }
            assert_eq!(reassembler.pending(), 0);
        }
    }
});
