//! Delivery receipts: the states an SMSC reports, the hand-written parser for the de-facto text
//! form (`id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…`, SMPP 3.4 appendix
//! B, which every SMSC bends a little), and the keys under which SMSC message ids are matched.
//! The receipt itself ([`Receipt`]) is a record of `store`: receipts that wait for their SMSC id
//! are kept on disk, and every channel reports the same kind.
//! Nothing here touches the wire; [`super::coding`] hands in the decoded text and TLV values.

pub use crate::store::records::{Receipt, ReceiptState};

/// The fields of a receipt's text form. Every field is optional: SMSCs leave some out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedReceiptText {
    pub id: Option<String>,
    pub submitted: Option<u32>,
    pub delivered: Option<u32>,
    pub submit_date: Option<String>,
    pub done_date: Option<String>,
    /// The `stat:` word as given.
    pub stat: Option<String>,
    /// `stat:` understood; `None` when missing or not a known word.
    pub state: Option<ReceiptState>,
    pub err: Option<String>,
    pub text: Option<String>,
}

/// Parses the text form of a receipt. Keys are case-insensitive and may come in any order, but
/// `text:` is last and runs to the end, so whatever it contains (even `stat:UNDELIV`) is not
/// read as a field. Returns `None` unless at least `id:` or `stat:` is present.
///
/// Values are single whitespace-free tokens; `submit date` and `done date` are two-word keys;
/// `key: value` with a space after the colon is accepted. Dates must be 10 or 12 digits
/// (`YYMMDDhhmm[ss]`), counts must be decimal, or the field is left `None`.
pub fn parse_receipt_text(text: &str) -> Option<ParsedReceiptText> {
    let (fields, tail) = match find_key(text, "text:") {
        Some(at) => (&text[..at], Some(text[at + "text:".len()..].to_string())),
        None => (text, None),
    };
    let mut parsed = ParsedReceiptText {
        text: tail,
        ..ParsedReceiptText::default()
    };
    let tokens: Vec<&str> = fields.split_whitespace().collect();
    let mut i = 0;
    let mut recognised = false;
    while i < tokens.len() {
        let mut token = tokens[i].to_string();
        i += 1;
        let lower = token.to_ascii_lowercase();
        // "submit date:…" and "done date:…" are one key split over two tokens.
        if (lower == "submit" || lower == "done")
            && tokens
                .get(i)
                .is_some_and(|next| next.to_ascii_lowercase().starts_with("date:"))
        {
            token = format!("{lower}_{}", tokens[i]);
            i += 1;
        }
        let Some((key, value)) = token.split_once(':') else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        let mut value = value.to_string();
        // "stat: DELIVRD": the value is the next token, unless that is a key of its own.
        if value.is_empty() && tokens.get(i).is_some_and(|next| !next.contains(':')) {
            value = tokens[i].to_string();
            i += 1;
        }
        let value = Some(value).filter(|v| !v.is_empty());
        match key.as_str() {
            "id" => parsed.id = value,
            "sub" => parsed.submitted = value.and_then(|v| v.parse().ok()),
            "dlvrd" => parsed.delivered = value.and_then(|v| v.parse().ok()),
            "submit_date" => parsed.submit_date = value.filter(|v| is_receipt_date(v)),
            "done_date" => parsed.done_date = value.filter(|v| is_receipt_date(v)),
            "stat" => {
                parsed.state = value.as_deref().and_then(ReceiptState::from_stat);
                parsed.stat = value;
            }
            "err" => parsed.err = value,
            _ => continue,
        }
        recognised = true;
    }
    (recognised && (parsed.id.is_some() || parsed.stat.is_some())).then_some(parsed)
}

/// Byte offset of `key` (lowercase, ASCII) in `text`, matched case-insensitively at the start or
/// after whitespace.
fn find_key(text: &str, key: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let key = key.as_bytes();
    (0..bytes.len().saturating_sub(key.len() - 1)).find(|&at| {
        (at == 0 || bytes[at - 1].is_ascii_whitespace())
            && bytes[at..at + key.len()].eq_ignore_ascii_case(key)
    })
}

fn is_receipt_date(value: &str) -> bool {
    (value.len() == 10 || value.len() == 12) && value.bytes().all(|b| b.is_ascii_digit())
}

/// One canonical spelling: the id read as hex if it is all hex digits (lowercase, no leading
/// zeros; `0A1F`, `a1f` and `00a1f` give `a1f`), else the trimmed id lowercased. It cannot know
/// whether `2591` is decimal, so it does NOT unify bases: [`alternate_smsc_ids`] does, for
/// receipts that found nothing under this spelling.
pub fn normalise_smsc_id(id: &str) -> String {
    let raw = id.trim().to_ascii_lowercase();
    if !raw.is_empty()
        && raw.bytes().all(|b| b.is_ascii_hexdigit())
        && let Ok(value) = u128::from_str_radix(&raw, 16)
    {
        return format!("{value:x}");
    }
    raw
}

/// The id's canonical spellings under the other base: for a receipt whose id did not match as
/// given, because the SMSC wrote it in decimal in one place and hex in the other. Tried only
/// after a receipt has waited in vain for its id as given: an all-digit id is a valid spelling
/// in both bases, so trying both at once would match unrelated messages.
pub fn alternate_smsc_ids(id: &str) -> Vec<String> {
    let raw = id.trim().to_ascii_lowercase();
    let canonical = normalise_smsc_id(&raw);
    let mut alternates = Vec::new();
    if !raw.is_empty()
        && raw.bytes().all(|b| b.is_ascii_digit())
        && let Ok(value) = raw.parse::<u128>()
    {
        alternates.push(format!("{value:x}"));
    }
    if !raw.is_empty()
        && raw.bytes().all(|b| b.is_ascii_hexdigit())
        && let Ok(value) = u128::from_str_radix(&raw, 16)
    {
        alternates.push(normalise_smsc_id(&value.to_string()));
    }
    alternates.retain(|alternate| *alternate != canonical);
    alternates.dedup();
    alternates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternates_cross_the_base_but_never_repeat_the_id() {
        // Hex 0A1F in the response, decimal 2591 in the receipt (and the other way round).
        assert_eq!(normalise_smsc_id("0A1F"), "a1f");
        assert_eq!(alternate_smsc_ids("2591"), ["a1f", "9617"]);
        assert_eq!(normalise_smsc_id("2591"), "2591");
        assert_eq!(alternate_smsc_ids("A1F"), ["2591"]);
        assert!(alternate_smsc_ids("msg-7").is_empty());
    }

    #[test]
    fn parses_the_standard_form() {
        let text = "id:0A1F sub:001 dlvrd:001 submit date:2401311200 done date:240131120512 \
                    stat:DELIVRD err:000 text:Hello there";
        let p = parse_receipt_text(text).expect("receipt");
        assert_eq!(p.id.as_deref(), Some("0A1F"));
        assert_eq!(p.submitted, Some(1));
        assert_eq!(p.delivered, Some(1));
        assert_eq!(p.submit_date.as_deref(), Some("2401311200"));
        assert_eq!(p.done_date.as_deref(), Some("240131120512"));
        assert_eq!(p.state, Some(ReceiptState::Delivered));
        assert_eq!(p.err.as_deref(), Some("000"));
        assert_eq!(p.text.as_deref(), Some("Hello there"));
    }

    #[test]
    fn keys_are_case_insensitive_and_in_any_order() {
        let p = parse_receipt_text(
            "STAT:undeliv ERR:ABC Submit Date:2401311200 ID:42 Done DATE:2401311201",
        )
        .expect("receipt");
        assert_eq!(p.id.as_deref(), Some("42"));
        assert_eq!(p.state, Some(ReceiptState::Undeliverable));
        assert_eq!(p.stat.as_deref(), Some("undeliv"));
        assert_eq!(p.err.as_deref(), Some("ABC"));
        assert_eq!(p.submit_date.as_deref(), Some("2401311200"));
        assert_eq!(p.done_date.as_deref(), Some("2401311201"));
        assert_eq!(p.text, None);
    }

    #[test]
    fn text_is_last_and_may_contain_field_words() {
        let p = parse_receipt_text("id:7 stat:DELIVRD err:000 Text:stat:UNDELIV id:9 err:123")
            .expect("receipt");
        assert_eq!(p.id.as_deref(), Some("7"));
        assert_eq!(p.state, Some(ReceiptState::Delivered));
        assert_eq!(p.err.as_deref(), Some("000"));
        assert_eq!(p.text.as_deref(), Some("stat:UNDELIV id:9 err:123"));
    }

    #[test]
    fn missing_fields_and_bad_values_are_none() {
        let p = parse_receipt_text("id:123 stat:EXPIRED").expect("receipt");
        assert_eq!(p.state, Some(ReceiptState::Expired));
        assert_eq!(
            (p.submitted, p.delivered, p.err, p.text),
            (None, None, None, None)
        );
        let p =
            parse_receipt_text("id:1 submit date:24013112 dlvrd:x stat:WHATEVER").expect("receipt");
        assert_eq!(p.submit_date, None, "8 digits is not a receipt date");
        assert_eq!(p.delivered, None);
        assert_eq!(p.stat.as_deref(), Some("WHATEVER"));
        assert_eq!(p.state, None);
        let p = parse_receipt_text("id: 55 stat: ACCEPTD").expect("space after the colon");
        assert_eq!(p.id.as_deref(), Some("55"));
        assert_eq!(p.state, Some(ReceiptState::Accepted));
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(parse_receipt_text(""), None);
        assert_eq!(parse_receipt_text("Hello, see you at 10:30"), None);
        assert_eq!(parse_receipt_text("sub:001 dlvrd:001"), None);
        assert_eq!(
            parse_receipt_text("text:id:1 stat:DELIVRD"),
            None,
            "all of it is text"
        );
        assert_eq!(
            parse_receipt_text("paid:5 status:ok"),
            None,
            "keys must match whole"
        );
    }

    #[test]
    fn states_final_and_success() {
        assert!(ReceiptState::Delivered.is_final() && ReceiptState::Delivered.is_success());
        assert!(
            ReceiptState::Undeliverable.is_final() && !ReceiptState::Undeliverable.is_success()
        );
        assert!(!ReceiptState::Enroute.is_final());
        assert!(!ReceiptState::Accepted.is_final());
        assert_eq!(
            ReceiptState::from_message_state(2),
            Some(ReceiptState::Delivered)
        );
        assert_eq!(
            ReceiptState::from_message_state(5),
            Some(ReceiptState::Undeliverable)
        );
        assert_eq!(ReceiptState::from_message_state(42), None);
    }

    /// Whether a receipt for `receipt` finds the mapping stored for `mapping`, as the status
    /// writer looks: under the canonical spelling, then under the other base.
    fn shares_key(mapping: &str, receipt: &str) -> bool {
        let stored = normalise_smsc_id(mapping);
        normalise_smsc_id(receipt) == stored || alternate_smsc_ids(receipt).contains(&stored)
    }

    #[test]
    fn smsc_ids_match_across_base_case_and_leading_zeros() {
        assert!(shares_key("0A1F", "a1f"));
        assert!(shares_key("0A1F", "00a1f"));
        assert!(shares_key("0A1F", "2591"), "hex resp, decimal receipt");
        assert!(shares_key("2591", "00002591"));
        assert!(shares_key("abc-DEF-1", " ABC-def-1 "));
        assert!(!shares_key("0A1F", "0A20"));
        assert!(!shares_key("abc-1", "abc-2"));
        assert!(!shares_key("12", "13"));
        assert_eq!(alternate_smsc_ids("  "), Vec::<String>::new());
        assert_eq!(alternate_smsc_ids("0A1F"), vec!["2591"]);
        assert_eq!(alternate_smsc_ids("2591"), vec!["a1f", "9617"]);
    }

    #[test]
    fn normalise_strips_case_and_zeros_but_not_base() {
        assert_eq!(normalise_smsc_id("0A1F"), "a1f");
        assert_eq!(normalise_smsc_id("00a1f"), "a1f");
        assert_eq!(normalise_smsc_id("2591"), "2591");
        assert_eq!(normalise_smsc_id(" Msg-7 "), "msg-7");
        assert_eq!(normalise_smsc_id("000"), "0");
    }
}
