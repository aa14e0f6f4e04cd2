//! What a held `deliver_sm` says on the wire: a receipt in the usual text form with its
//! TLVs, or an inbound SMS in the narrowest alphabet that holds it.

use super::pdu::Deliver;
use crate::channel::smpp::coding::{DATA_CODING_DEFAULT, DATA_CODING_UCS2, ESM_DELIVERY_RECEIPT};
use crate::notify::smpp::{STATE_DELETED, STATE_DELIVERED, STATE_EXPIRED, STATE_UNKNOWN};
use crate::store::records::{SmppHeldKind, SmppReceipt, UnixMillis};
use crate::text;

/// The `deliver_sm` a held entry is sent as.
pub fn deliver_of(held: &SmppHeldKind) -> Deliver {
    match held {
        SmppHeldKind::Receipt(receipt) => Deliver {
            source: receipt.source.clone(),
            destination: receipt.destination.clone(),
            esm_class: ESM_DELIVERY_RECEIPT,
            data_coding: DATA_CODING_DEFAULT,
            octets: receipt_text(receipt).into_bytes(),
            receipt: Some((receipt.id.clone(), receipt.message_state)),
        },
        SmppHeldKind::Inbound { from, to, text, .. } => {
            let (data_coding, octets) = match text::gsm7_encode(text) {
                // One septet per octet, as SMPP's default alphabet goes on the wire unpacked.
                Some(septets) => (DATA_CODING_DEFAULT, septets),
                None => (
                    DATA_CODING_UCS2,
                    text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
                ),
            };
            Deliver {
                source: from.clone(),
                destination: to.clone(),
                esm_class: 0,
                data_coding,
                octets,
                receipt: None,
            }
        }
    }
}

/// `id:… sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DELIVRD
/// err:000 text:…`, the form SMPP 3.4 Appendix B suggests and ESMEs parse.
pub fn receipt_text(receipt: &SmppReceipt) -> String {
    let delivered = receipt.message_state == STATE_DELIVERED;
    let stat = match receipt.message_state {
        STATE_DELIVERED => "DELIVRD",
        STATE_EXPIRED => "EXPIRED",
        STATE_DELETED => "DELETED",
        STATE_UNKNOWN => "UNKNOWN",
        _ => "UNDELIV",
    };
    // Printable ASCII only: ESMEs read the text as bytes.
    let text: String = receipt
        .text_start
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '.'
            }
        })
        .take(20)
        .collect();
    format!(
        "id:{} sub:001 dlvrd:{} submit date:{} done date:{} stat:{} err:{:03} text:{}",
        receipt.id,
        if delivered { "001" } else { "000" },
        smpp_date(receipt.submitted_at),
        smpp_date(receipt.done_at),
        stat,
        receipt.error.min(999),
        text
    )
}

/// `YYMMDDhhmm` in UTC.
fn smpp_date(at: UnixMillis) -> String {
    let seconds = at.div_euclid(1000);
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{:02}{:02}{:02}{:02}{:02}",
        year.rem_euclid(100),
        month,
        day,
        of_day / 3600,
        of_day % 3600 / 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::smpp::receipt::parse_receipt_text;
    use crate::store::records::ReceiptState;

    fn receipt(state: u8) -> SmppReceipt {
        SmppReceipt {
            id: "msg_01JABCDEF0123456789ABCDEFG".into(),
            source: "447700900123".into(),
            destination: "Flit".into(),
            message_state: state,
            error: if state == STATE_DELIVERED { 0 } else { 11 },
            // 2026-12-06 14:51:28 UTC and a minute later.
            submitted_at: 1_796_568_688_000,
            done_at: 1_796_568_748_000,
            text_start: "Hello\nwörld, this is longer than twenty".into(),
        }
    }

    #[test]
    fn the_receipt_text_reads_back_through_the_clients_own_parser() {
        let text = receipt_text(&receipt(STATE_DELIVERED));
        assert_eq!(
            text,
            "id:msg_01JABCDEF0123456789ABCDEFG sub:001 dlvrd:001 submit date:2612061451 \
             done date:2612061452 stat:DELIVRD err:000 text:Hello.w.rld, this is"
        );
        let parsed = parse_receipt_text(&text).expect("parses");
        assert_eq!(parsed.id.as_deref(), Some("msg_01JABCDEF0123456789ABCDEFG"));
        assert_eq!(parsed.state, Some(ReceiptState::Delivered));
        let failed = parse_receipt_text(&receipt_text(&receipt(5))).expect("parses");
        assert_eq!(failed.state, Some(ReceiptState::Undeliverable));
        assert_eq!(failed.err.as_deref(), Some("011"));
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(smpp_date(0), "7001010000");
        assert_eq!(smpp_date(951_782_400_000), "0002290000", "a leap day");
        assert_eq!(smpp_date(4_102_444_799_000), "9912312359");
    }

    #[test]
    fn inbound_text_takes_the_narrowest_alphabet() {
        let gsm = deliver_of(&SmppHeldKind::Inbound {
            from: "447700900123".into(),
            to: "Flit".into(),
            text: "Hi @ £5".into(),
            received_at: 0,
        });
        assert_eq!(gsm.data_coding, DATA_CODING_DEFAULT);
        assert_eq!(text::gsm7_decode(&gsm.octets), "Hi @ £5");
        let ucs2 = deliver_of(&SmppHeldKind::Inbound {
            from: "447700900123".into(),
            to: "Flit".into(),
            text: "Привет 👋".into(),
            received_at: 0,
        });
        assert_eq!(ucs2.data_coding, DATA_CODING_UCS2);
        assert_eq!(text::ucs2_decode(&ucs2.octets), "Привет 👋");
    }
}
