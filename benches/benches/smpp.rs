//! SMPP encode/decode and receipt parsing: the per-part work of a bind session.
//!
//! - `smpp_submit_sm/build/*`: what a session does to prepare one message —
//!   `coding::encode_message` (split, UDH, data_coding) then `pdu::submit_sm` for every part.
//! - `smpp_submit_sm/wire/*`: the same, plus framing every part as a `Command` and writing it
//!   with rusmpp's `CommandCodec` (the codec the session's `Framed` uses) into a reused buffer.
//! - `smpp_deliver_sm/*`: a receipt `deliver_sm` from wire bytes to a `Receipt`: codec decode,
//!   `pdu::deliver_content`, `DeliverContent::is_receipt`, `coding::receipt_from`.
//! - `smpp_receipt/*`: `parse_receipt_text` on the standard text form, and SMSC id spelling.
//!
//! rusmpp (the version flit-engine pins) is a dev-dependency here only because the engine's
//! public PDU functions take and return its types (`SubmitSm`, `DeliverSm`) and the engine has
//! no public bytes-in/bytes-out entry point.

// A bench is a harness like a test: a broken fixture should stop it loudly.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::str::FromStr;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use flit_engine::testing::smpp::coding::{self, DATA_CODING_DEFAULT, DATA_CODING_UCS2};
use flit_engine::testing::smpp::{
    Concatenation, Gsm7Mode, ReceiptState, Submit, alternate_smsc_ids, normalise_smsc_id,
    parse_receipt_text, pdu,
};
use rusmpp::pdus::DeliverSm;
use rusmpp::tlvs::MessageDeliveryRequestTlvValue;
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{EsmClass, MessageState};
use rusmpp::{Command, CommandStatus, Pdu};
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

const STANDARD_RECEIPT: &str = "id:0A1F2B3C4D sub:001 dlvrd:001 submit date:2401311200 \
     done date:2401311201 stat:DELIVRD err:000 text:Your code is 123456. It expires i";

fn submit(text: String) -> Submit {
    Submit {
        id: 42,
        source: "Flit".into(),
        destination: "+233241234567".into(),
        text,
        registered_delivery: true,
        recipient: None,
        valid_until: None,
        sim: None,
    }
}

/// The session's `prepare`: encode the text, build one `submit_sm` per part.
fn build(submit: &Submit, reference: u16) -> Vec<rusmpp::pdus::SubmitSm> {
    let message = coding::encode_message(
        &submit.text,
        Gsm7Mode::Unpacked,
        Concatenation::Udh,
        reference,
    );
    message
        .parts
        .iter()
        .map(|part| pdu::submit_sm(submit, message.data_coding, part).unwrap())
        .collect()
}

fn submit_sm(c: &mut Criterion) {
    let gsm7_1: String = "Your code is 123456. It expires in 10 minutes. Do not share it. "
        .chars()
        .cycle()
        .take(140)
        .collect();
    // 3 × 153 septets = 459: the most a 3-part GSM-7 message holds.
    let gsm7_3: String = "Dear customer, your balance is GHS 120.50 (ref: A1) "
        .chars()
        .cycle()
        .take(450)
        .collect();
    // 70 UTF-16 units: one full UCS-2 part.
    let ucs2_1: String = "Привет! Ваш код 123456. "
        .chars()
        .cycle()
        .take(70)
        .collect();

    let cases = [
        ("gsm7_1_part", submit(gsm7_1), 1, DATA_CODING_DEFAULT),
        ("gsm7_udh_3_parts", submit(gsm7_3), 3, DATA_CODING_DEFAULT),
        ("ucs2_1_part", submit(ucs2_1), 1, DATA_CODING_UCS2),
    ];
    for (name, submit, parts, data_coding) in &cases {
        let built = build(submit, 7);
        assert_eq!(built.len(), *parts, "{name}");
        assert!(
            built
                .iter()
                .all(|sm| u8::from(sm.data_coding) == *data_coding),
            "{name}"
        );
        assert_eq!(
            u8::from(built[0].esm_class),
            if *parts > 1 { coding::ESM_UDHI } else { 0 },
            "{name}"
        );
    }

    let mut group = c.benchmark_group("smpp_submit_sm");
    for (name, submit, parts, _) in &cases {
        group.throughput(Throughput::Elements(*parts as u64));
        let mut reference = 0u16;
        group.bench_function(format!("build/{name}"), |b| {
            b.iter(|| {
                reference = reference.wrapping_add(1);
                build(black_box(submit), reference)
            })
        });
        let mut codec = CommandCodec::new();
        let mut buf = BytesMut::with_capacity(4096);
        let mut sequence = 0u32;
        group.bench_function(format!("wire/{name}"), |b| {
            b.iter(|| {
                buf.clear();
                reference = reference.wrapping_add(1);
                for sm in build(black_box(submit), reference) {
                    sequence = sequence.wrapping_add(1);
                    let command = Command::new(CommandStatus::EsmeRok, sequence, sm);
                    codec.encode(command, &mut buf).unwrap();
                }
                black_box(buf.len())
            })
        });
    }
    group.finish();
}

/// A receipt `deliver_sm` as SMSCs send them: esm_class 0x04, the text form in
/// `short_message`, and (`with_tlvs`) `receipted_message_id` and `message_state` TLVs.
fn receipt_frame(with_tlvs: bool) -> BytesMut {
    let mut deliver = DeliverSm::builder()
        .source_addr(COctetString::from_str("233241234567").unwrap())
        .destination_addr(COctetString::from_str("Flit").unwrap())
        .esm_class(EsmClass::from(coding::ESM_DELIVERY_RECEIPT))
        .short_message(OctetString::from_str(STANDARD_RECEIPT).unwrap());
    if with_tlvs {
        deliver = deliver
            .push_tlv(MessageDeliveryRequestTlvValue::ReceiptedMessageId(
                COctetString::from_str("0A1F2B3C4D").unwrap(),
            ))
            .push_tlv(MessageDeliveryRequestTlvValue::MessageState(
                MessageState::Delivered,
            ));
    }
    let mut buf = BytesMut::new();
    CommandCodec::new()
        .encode(
            Command::new(CommandStatus::EsmeRok, 900, deliver.build()),
            &mut buf,
        )
        .unwrap();
    buf
}

/// What the session does with a frame off the wire that turns out to be a receipt.
fn decode_receipt(
    codec: &mut CommandCodec,
    frame: &mut BytesMut,
) -> flit_engine::testing::smpp::Receipt {
    let command = codec.decode(frame).unwrap().unwrap();
    let Some(Pdu::DeliverSm(deliver)) = command.pdu() else {
        panic!("not a deliver_sm")
    };
    let content = pdu::deliver_content(deliver);
    assert!(content.is_receipt());
    coding::receipt_from(&content).unwrap()
}

fn deliver_sm(c: &mut Criterion) {
    let mut group = c.benchmark_group("smpp_deliver_sm");
    group.throughput(Throughput::Elements(1));
    for (name, with_tlvs) in [
        ("receipt_tlvs_and_text", true),
        ("receipt_text_only", false),
    ] {
        let frame = receipt_frame(with_tlvs);
        let mut codec = CommandCodec::new();
        let receipt = decode_receipt(&mut codec, &mut frame.clone());
        assert_eq!(receipt.state, ReceiptState::Delivered);
        assert_eq!(receipt.smsc_message_id, "0A1F2B3C4D");
        assert_eq!(receipt.delivered, Some(1));
        // The frame is consumed by decoding: each iteration gets a fresh copy, outside the timing.
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter_batched_ref(
                || frame.clone(),
                |frame| decode_receipt(&mut codec, frame),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn receipts(c: &mut Criterion) {
    let parsed = parse_receipt_text(STANDARD_RECEIPT).unwrap();
    assert_eq!(parsed.id.as_deref(), Some("0A1F2B3C4D"));
    assert_eq!(parsed.state, Some(ReceiptState::Delivered));
    assert_eq!(parsed.done_date.as_deref(), Some("2401311201"));
    assert!(parsed.text.is_some());
    assert_eq!(normalise_smsc_id(" 000A1F2B3C4D "), "a1f2b3c4d");

    let mut group = c.benchmark_group("smpp_receipt");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_receipt_text/standard", |b| {
        b.iter(|| parse_receipt_text(black_box(STANDARD_RECEIPT)))
    });
    for (name, id) in [
        ("hex", "000A1F2B3C4D"),
        ("decimal", "43520867405"),
        ("uuid", "6F9619FF-8B86-D011-B42D-00C04FC964FF"),
    ] {
        group.bench_function(format!("normalise_smsc_id/{name}"), |b| {
            b.iter(|| normalise_smsc_id(black_box(id)))
        });
        group.bench_function(format!("alternate_smsc_ids/{name}"), |b| {
            b.iter(|| alternate_smsc_ids(black_box(id)))
        });
    }
    group.finish();
}

criterion_group!(benches, submit_sm, deliver_sm, receipts);
criterion_main!(benches);
