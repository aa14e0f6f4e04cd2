//! Receipt text and SMSC ids: any text through `parse_receipt_text`, the id spellings the status
//! writer matches receipts by (`normalise_smsc_id`, then `alternate_smsc_ids`), and any
//! `short_message` through `receipt_from` under every `data_coding`. What Flit matches receipts
//! by must be consistent: normalising is idempotent and never empty for a non-blank id, an
//! alternate is never the id itself, and a receipt always carries a non-blank id.

#![no_main]

use flit_engine::testing::smpp::coding::{self, DeliverContent};
use flit_engine::testing::smpp::{alternate_smsc_ids, normalise_smsc_id, parse_receipt_text};
use libfuzzer_sys::fuzz_target;

fn check_id(id: &str) {
    let canonical = normalise_smsc_id(id);
    assert_eq!(
        normalise_smsc_id(&canonical),
        canonical,
        "normalising is not idempotent"
    );
    if id.trim().is_empty() {
        assert!(canonical.is_empty());
        assert!(alternate_smsc_ids(id).is_empty());
        return;
    }
    assert!(!canonical.is_empty(), "{id:?} has no canonical spelling");
    let alternates = alternate_smsc_ids(id);
    assert!(
        !alternates.contains(&canonical),
        "an alternate of {id:?} is the id itself"
    );
    for (i, alternate) in alternates.iter().enumerate() {
        assert!(!alternates[..i].contains(alternate));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&data_coding, rest)) = data.split_first() else {
        return;
    };
    if let Ok(text) = std::str::from_utf8(rest) {
        check_id(text);
        if let Some(parsed) = parse_receipt_text(text) {
            assert!(parsed.id.is_some() || parsed.stat.is_some());
            if let Some(id) = &parsed.id {
                assert!(!id.is_empty() && !id.contains(char::is_whitespace));
                check_id(id);
            }
            for date in [&parsed.submit_date, &parsed.done_date]
                .into_iter()
                .flatten()
            {
                assert!(matches!(date.len(), 10 | 12) && date.bytes().all(|b| b.is_ascii_digit()));
            }
            if parsed.state.is_some() {
                assert!(parsed.stat.is_some());
            }
            if let Some(tail) = &parsed.text {
                assert!(text.ends_with(tail.as_str()));
            }
        }
    }
    // The same bytes as a deliver_sm's short_message, flagged as a receipt.
    let content = DeliverContent {
        esm_class: coding::ESM_DELIVERY_RECEIPT,
        data_coding,
        short_message: rest.to_vec(),
        ..DeliverContent::default()
    };
    if let Some(receipt) = coding::receipt_from(&content) {
        assert!(!receipt.smsc_message_id.trim().is_empty());
        assert!(!normalise_smsc_id(&receipt.smsc_message_id).is_empty());
    }
});
