//! Unit tests of [`super`]: encoding round trips, packing vectors, receipts and reassembly.

use std::time::Duration;

use rusmpp::values::{Npi, Ton};
use tokio::time::Instant;

use super::deliver::{Alphabet, alphabet};
use super::packing::{pack_septets, udh_fill_bits, unpack_septets};
use super::reassembly::REASSEMBLY_TIMEOUT;
use super::*;
use crate::channel::smpp::receipt::ReceiptState;
use crate::channel::smpp::{Concatenation, Gsm7Mode, InboundSms};
use crate::text;

#[test]
fn source_ton_npi_detection() {
    assert_eq!(
        source_address("Flit"),
        (Ton::Alphanumeric, Npi::Unknown, "Flit".into())
    );
    assert_eq!(
        source_address("Shop 24"),
        (Ton::Alphanumeric, Npi::Unknown, "Shop 24".into())
    );
    assert_eq!(
        source_address("12345"),
        (Ton::NetworkSpecific, Npi::Unknown, "12345".into())
    );
    assert_eq!(
        source_address("12345678"),
        (Ton::NetworkSpecific, Npi::Unknown, "12345678".into())
    );
    assert_eq!(
        source_address("123456789"),
        (Ton::International, Npi::Isdn, "123456789".into())
    );
    assert_eq!(
        source_address("447700900123"),
        (Ton::International, Npi::Isdn, "447700900123".into())
    );
    assert_eq!(
        source_address("+4477009"),
        (Ton::International, Npi::Isdn, "4477009".into())
    );
    assert_eq!(
        destination_address("+4915112345678"),
        (Ton::International, Npi::Isdn, "4915112345678".into())
    );
}

/// A GSM-7 text of exactly three parts with `€` (ESC + 0x65) straddling the first boundary:
/// 152 `a` then `€` does not fit in 153 septets, so `€` starts part 2.
fn euro_text() -> String {
    let mut text = "a".repeat(152);
    text.push('€');
    text.push_str(&"b".repeat(200));
    text
}

fn udh(part: &EncodedPart) -> &[u8] {
    &part.short_message[..6]
}

#[test]
fn udh_unpacked_gsm7_three_parts_with_euro_at_boundary() {
    let message = encode_message(&euro_text(), Gsm7Mode::Unpacked, Concatenation::Udh, 0x1234);
    assert_eq!(message.data_coding, 0);
    assert_eq!(message.parts.len(), 3);
    for (i, part) in message.parts.iter().enumerate() {
        assert!(part.udhi);
        assert_eq!(udh(part), &[0x05, 0x00, 0x03, 0x34, 3, i as u8 + 1]);
        assert!(part.short_message.len() <= 6 + 153);
    }
    assert_eq!(message.parts[0].short_message[6..], vec![0x61; 152][..]);
    assert_eq!(&message.parts[1].short_message[6..8], &[0x1B, 0x65]);
    let joined: Vec<u8> = message
        .parts
        .iter()
        .flat_map(|p| p.short_message[6..].to_vec())
        .collect();
    assert_eq!(text::gsm7_decode(&joined), euro_text());
}

#[test]
fn udh_packed_gsm7_is_aligned_after_the_header_and_fits_140_octets() {
    let message = encode_message(&euro_text(), Gsm7Mode::Packed, Concatenation::Udh, 7);
    assert_eq!(message.data_coding, 0);
    assert_eq!(message.parts.len(), 3);
    let mut texts = String::new();
    for part in &message.parts {
        assert!(
            part.short_message.len() <= 140,
            "{} octets",
            part.short_message.len()
        );
        let body = &part.short_message[6..];
        texts.push_str(&text::gsm7_decode(&unpack_septets(body, 1)));
    }
    assert_eq!(texts, euro_text());
    // A full 153-septet part is exactly 140 octets, and its first septet 'a' (0x61) sits
    // after one fill bit: 0x61 << 1 = 0xC2.
    let full = encode_message(&"a".repeat(306), Gsm7Mode::Packed, Concatenation::Udh, 7);
    assert_eq!(full.parts.len(), 2);
    assert_eq!(full.parts[0].short_message.len(), 140);
    assert_eq!(full.parts[0].short_message[6], 0xC2);
}

#[test]
fn packing_known_vectors() {
    // "hellohello" packed, TS 23.038 example: E8 32 9B FD 46 97 D9 EC 37.
    let septets = text::gsm7_encode("hellohello").unwrap_or_default();
    assert_eq!(
        pack_septets(&septets, 0),
        vec![0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37]
    );
    // Seven septets leave 7 spare bits: they carry CR, and unpacking drops it again.
    let seven = text::gsm7_encode("1234567").unwrap_or_default();
    let packed = pack_septets(&seven, 0);
    assert_eq!(packed.len(), 7);
    assert_eq!(packed[6] >> 1, 0x0D);
    assert_eq!(unpack_septets(&packed, 0), seven);
    for fill in 0..7 {
        for len in 0..20 {
            let s: Vec<u8> = (0..len).map(|i| (i * 37 % 128) as u8).collect();
            let s: Vec<u8> = s.into_iter().filter(|&c| c != 0x0D).collect();
            assert_eq!(
                unpack_septets(&pack_septets(&s, fill), fill),
                s,
                "fill {fill}"
            );
        }
    }
    assert_eq!(udh_fill_bits(6), 1);
    assert_eq!(udh_fill_bits(7), 0);
    assert_eq!(udh_fill_bits(8), 6);
}

#[test]
fn a_final_cr_on_an_octet_boundary_is_doubled_so_it_is_not_taken_for_padding() {
    // Found by the `segment` fuzz target: a backslash and 14 CRs are 16 septets, 14 octets
    // exactly; the last CR went out as if it were padding and was read back as nothing.
    let read_back = |text: &str, concatenation| -> Vec<String> {
        let message = encode_message(text, Gsm7Mode::Packed, concatenation, 9);
        let mut reassembler = Reassembler::new();
        let mut texts = Vec::new();
        for part in &message.parts {
            assert!(part.short_message.len() <= 140);
            let esm_class = if part.udhi { ESM_UDHI } else { 0 };
            let mut delivered = content(esm_class, 0, part.short_message.clone());
            delivered.sar = part.sar;
            let fragment = fragment_from(&delivered, Gsm7Mode::Packed);
            texts.extend(
                reassembler
                    .push(fragment, Instant::now())
                    .map(|sms| sms.text),
            );
        }
        texts
    };
    for text in ["1234567\r", &format!("{}\r", "x".repeat(15))] {
        assert_eq!(read_back(text, Concatenation::Udh), [format!("{text}\r")]);
    }
    // A last part of 9 septets after the 6-octet UDH and its fill bit ends on a boundary.
    let long = format!("{}{}\r", "y".repeat(153), "z".repeat(8));
    assert_eq!(read_back(&long, Concatenation::Udh), [format!("{long}\r")]);
    // With no room left in the 140 octets nothing is added (the CR cannot be kept).
    let full = format!("{}\r", "x".repeat(159));
    assert_eq!(read_back(&full, Concatenation::Sar), ["x".repeat(159)]);
}

#[test]
fn latin1_mode_sends_octets_or_falls_back_for_euro() {
    let message = encode_message(
        "Grüße aus Köln, 5 € later",
        Gsm7Mode::Latin1,
        Concatenation::Udh,
        1,
    );
    assert_eq!(message.data_coding, 0, "€ is not Latin-1");
    let message = encode_message(
        "Grüße aus Köln @ 5$",
        Gsm7Mode::Latin1,
        Concatenation::Udh,
        1,
    );
    assert_eq!(message.data_coding, 3);
    assert_eq!(
        message.parts[0].short_message,
        "Grüße aus Köln @ 5$"
            .chars()
            .map(|c| c as u8)
            .collect::<Vec<_>>()
    );
    let long = format!("{}{{}}{}", "ä".repeat(150), "x".repeat(100));
    let message = encode_message(&long, Gsm7Mode::Latin1, Concatenation::Udh, 9);
    assert_eq!(message.data_coding, 3);
    assert_eq!(message.parts.len(), text::analyse(&long).parts);
    let joined: Vec<u8> = message
        .parts
        .iter()
        .flat_map(|p| p.short_message[6..].to_vec())
        .collect();
    assert_eq!(
        joined.iter().map(|&b| char::from(b)).collect::<String>(),
        long
    );
    let euro = encode_message(&euro_text(), Gsm7Mode::Latin1, Concatenation::Udh, 9);
    assert_eq!((euro.data_coding, euro.parts.len()), (0, 3));
}

fn emoji_text() -> String {
    // 66 UTF-16 units, then a surrogate pair that cannot fit in the first 67-unit part.
    format!("{}😀{}", "ж".repeat(66), "я".repeat(80))
}

#[test]
fn udh_ucs2_with_emoji_never_splits_the_pair() {
    let message = encode_message(
        &emoji_text(),
        Gsm7Mode::Unpacked,
        Concatenation::Udh,
        0x0102,
    );
    assert_eq!(message.data_coding, 8);
    assert_eq!(message.parts.len(), 3);
    for (i, part) in message.parts.iter().enumerate() {
        assert_eq!(udh(part), &[0x05, 0x00, 0x03, 0x02, 3, i as u8 + 1]);
        assert!(part.short_message.len() <= 140);
        assert_eq!(part.short_message.len() % 2, 0);
    }
    assert_eq!(message.parts[0].short_message.len(), 6 + 132);
    assert_eq!(
        &message.parts[1].short_message[6..10],
        "😀"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect::<Vec<_>>()
            .as_slice()
    );
    let text: String = message
        .parts
        .iter()
        .map(|p| text::ucs2_decode(&p.short_message[6..]))
        .collect();
    assert_eq!(text, emoji_text());
}

#[test]
fn sar_parts_carry_no_header() {
    for mode in [Gsm7Mode::Unpacked, Gsm7Mode::Packed] {
        let message = encode_message(&euro_text(), mode, Concatenation::Sar, 0xBEEF);
        assert_eq!(message.parts.len(), 3);
        let mut text = String::new();
        for (i, part) in message.parts.iter().enumerate() {
            assert!(!part.udhi);
            assert_eq!(
                part.sar,
                Some(Sar {
                    reference: 0xBEEF,
                    total: 3,
                    seq: i as u8 + 1
                })
            );
            let septets = match mode {
                Gsm7Mode::Packed => unpack_septets(&part.short_message, 0),
                _ => part.short_message.clone(),
            };
            text.push_str(&text::gsm7_decode(&septets));
        }
        assert_eq!(text, euro_text());
    }
    let ucs = encode_message(&emoji_text(), Gsm7Mode::Unpacked, Concatenation::Sar, 5);
    assert!(
        ucs.parts
            .iter()
            .all(|p| p.sar.is_some() && p.short_message.len() <= 134)
    );
}

#[test]
fn payload_is_one_pdu_with_the_whole_text() {
    let message = encode_message(&euro_text(), Gsm7Mode::Unpacked, Concatenation::Payload, 1);
    assert_eq!(message.parts.len(), 1);
    let part = &message.parts[0];
    assert!(part.short_message.is_empty() && !part.udhi && part.sar.is_none());
    assert_eq!(
        part.message_payload.as_deref(),
        text::gsm7_encode(&euro_text()).as_deref()
    );
    let packed = encode_message(&euro_text(), Gsm7Mode::Packed, Concatenation::Payload, 1);
    let payload = packed.parts[0].message_payload.clone().unwrap_or_default();
    assert_eq!(text::gsm7_decode(&unpack_septets(&payload, 0)), euro_text());
    let ucs = encode_message(&emoji_text(), Gsm7Mode::Unpacked, Concatenation::Payload, 1);
    assert_eq!(ucs.data_coding, 8);
    assert_eq!(
        text::ucs2_decode(ucs.parts[0].message_payload.as_deref().unwrap_or_default()),
        emoji_text()
    );
}

#[test]
fn single_part_has_no_concatenation() {
    for concatenation in [Concatenation::Udh, Concatenation::Sar] {
        let message = encode_message("Hi €", Gsm7Mode::Unpacked, concatenation, 1);
        assert_eq!(
            message.parts,
            vec![EncodedPart {
                short_message: vec![0x48, 0x69, 0x20, 0x1B, 0x65],
                udhi: false,
                sar: None,
                message_payload: None,
            }]
        );
    }
    let packed = encode_message(&"x".repeat(160), Gsm7Mode::Packed, Concatenation::Udh, 1);
    assert_eq!(packed.parts[0].short_message.len(), 140);
}

fn content(esm_class: u8, data_coding: u8, short_message: Vec<u8>) -> DeliverContent {
    DeliverContent {
        source: "4477".into(),
        destination: "Flit".into(),
        esm_class,
        data_coding,
        short_message,
        ..DeliverContent::default()
    }
}

/// Turns what Flit would send into what an SMSC would deliver, then reassembles.
fn roundtrip(
    text: &str,
    mode: Gsm7Mode,
    concatenation: Concatenation,
    order: &[usize],
) -> Option<InboundSms> {
    let message = encode_message(text, mode, concatenation, 0x0A0B);
    let mut reassembler = Reassembler::new();
    let now = Instant::now();
    let mut out = None;
    for &i in order {
        let part = &message.parts[i];
        let mut c = content(
            if part.udhi { ESM_UDHI } else { 0 },
            message.data_coding,
            part.short_message.clone(),
        );
        c.sar = part.sar;
        c.message_payload = part.message_payload.clone();
        assert!(out.is_none(), "completed early");
        out = reassembler.push(fragment_from(&c, mode), now);
    }
    assert_eq!(reassembler.pending(), 0);
    out
}

#[test]
fn inbound_reassembly_is_byte_exact_in_any_order() {
    for mode in [Gsm7Mode::Unpacked, Gsm7Mode::Packed, Gsm7Mode::Latin1] {
        for concatenation in [
            Concatenation::Udh,
            Concatenation::Sar,
            Concatenation::Payload,
        ] {
            let text = euro_text();
            let parts = encode_message(&text, mode, concatenation, 1).parts.len();
            let order: Vec<usize> = (0..parts).rev().collect();
            let sms = roundtrip(&text, mode, concatenation, &order).expect("complete");
            assert_eq!(sms.text, text, "{mode:?} {concatenation:?}");
            assert_eq!(usize::from(sms.parts), parts);
            let parts = encode_message(&emoji_text(), mode, concatenation, 1)
                .parts
                .len();
            let order: Vec<usize> = (0..parts).rev().collect();
            let sms = roundtrip(&emoji_text(), mode, concatenation, &order);
            assert_eq!(sms.map(|s| s.text), Some(emoji_text()));
        }
    }
}

#[test]
fn inbound_16_bit_reference_and_split_surrogate_pair() {
    // A sender that cut a surrogate pair across two parts: joining bytes before decoding
    // still yields the emoji.
    let bytes: Vec<u8> = "a😀b".encode_utf16().flat_map(u16::to_be_bytes).collect();
    let mut reassembler = Reassembler::new();
    let now = Instant::now();
    let mut first = vec![0x06, 0x08, 0x04, 0x12, 0x34, 2, 1];
    first.extend_from_slice(&bytes[..4]);
    let mut second = vec![0x06, 0x08, 0x04, 0x12, 0x34, 2, 2];
    second.extend_from_slice(&bytes[4..]);
    assert_eq!(
        reassembler.push(
            fragment_from(&content(ESM_UDHI, 8, first), Gsm7Mode::Unpacked),
            now
        ),
        None
    );
    let sms = reassembler
        .push(
            fragment_from(&content(ESM_UDHI, 8, second), Gsm7Mode::Unpacked),
            now,
        )
        .expect("complete");
    assert_eq!((sms.text.as_str(), sms.parts), ("a😀b", 2));
    // Different senders with the same reference do not mix.
    let a = content(ESM_UDHI, 0, vec![5, 0, 3, 9, 2, 1, 0x41]);
    let mut b = content(ESM_UDHI, 0, vec![5, 0, 3, 9, 2, 2, 0x42]);
    b.source = "other".into();
    assert_eq!(
        reassembler.push(fragment_from(&a, Gsm7Mode::Unpacked), now),
        None
    );
    assert_eq!(
        reassembler.push(fragment_from(&b, Gsm7Mode::Unpacked), now),
        None
    );
    assert_eq!(reassembler.pending(), 2);
    // Stale parts expire.
    let later = now + REASSEMBLY_TIMEOUT + Duration::from_secs(1);
    let c = content(ESM_UDHI, 0, vec![5, 0, 3, 10, 2, 1, 0x43]);
    assert_eq!(
        reassembler.push(fragment_from(&c, Gsm7Mode::Unpacked), later),
        None
    );
    assert_eq!(reassembler.pending(), 1);
}

#[test]
fn receipts_from_tlvs_and_text() {
    let text = b"id:0A1F sub:001 dlvrd:001 submit date:2401311200 done date:2401311201 stat:DELIVRD err:000 text:hi_@".to_vec();
    let c = content(ESM_DELIVERY_RECEIPT, 0, text.clone());
    assert!(c.is_receipt());
    let r = receipt_from(&c).expect("receipt");
    assert_eq!(r.smsc_message_id, "0A1F");
    assert_eq!(r.state, ReceiptState::Delivered);
    assert_eq!(r.error.as_deref(), Some("000"));
    assert_eq!(r.text.as_deref(), Some("hi_@"));
    // TLVs win over the text.
    let mut c = content(0, 0, text);
    c.receipted_message_id = Some("2591".into());
    c.message_state = Some(5);
    assert!(c.is_receipt());
    let r = receipt_from(&c).expect("receipt");
    assert_eq!(
        (r.smsc_message_id.as_str(), r.state),
        ("2591", ReceiptState::Undeliverable)
    );
    // TLV-only receipt with an empty short_message.
    let mut c = content(ESM_DELIVERY_RECEIPT, 0, Vec::new());
    c.receipted_message_id = Some("77".into());
    c.message_state = Some(2);
    c.network_error_code = Some((3, 11));
    let r = receipt_from(&c).expect("receipt");
    assert_eq!(
        (r.state, r.error.as_deref()),
        (ReceiptState::Delivered, Some("3:11"))
    );
    // Neither id nor state.
    assert_eq!(
        receipt_from(&content(ESM_DELIVERY_RECEIPT, 0, b"garbage".to_vec())),
        None
    );
    assert!(
        !content(0, 0, b"id:1 stat:DELIVRD".to_vec()).is_receipt(),
        "text alone is a message"
    );
}

#[test]
fn data_coding_alphabets() {
    assert_eq!(alphabet(0), Alphabet::Gsm7);
    assert_eq!(alphabet(3), Alphabet::Latin1);
    assert_eq!(alphabet(8), Alphabet::Ucs2);
    assert_eq!(alphabet(0xF0), Alphabet::Gsm7);
    assert_eq!(alphabet(0xF4), Alphabet::Latin1);
    assert_eq!(alphabet(0x18), Alphabet::Ucs2);
}
