//! What the SMSC remembers of every `submit_sm`, for tests to assert on.

use std::time::SystemTime;

use rusmpp::pdus::SubmitSm;
use rusmpp::tlvs::TlvValue;

use super::text::decode_user_data;

/// Identifies one TCP session of the SMSC, in accept order from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct SessionId(pub u64);

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "session-{}", self.0)
    }
}

/// How a part says which concatenated message it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConcatKind {
    /// UDH information element 0x00 (8-bit reference).
    Udh8,
    /// UDH information element 0x08 (16-bit reference).
    Udh16,
    /// `sar_msg_ref_num` / `sar_total_segments` / `sar_segment_seqnum` TLVs.
    Sar,
}

/// Concatenation information of one part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Concat {
    pub kind: ConcatKind,
    pub reference: u16,
    pub total: u8,
    /// 1-based.
    pub part: u8,
}

/// What the SMSC did with a submit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmitOutcome {
    /// Answered `ESME_ROK` (possibly still waiting for `latency`).
    Accepted,
    /// Answered `ESME_RTHROTTLED`.
    Throttled,
    /// Refused for good (`ESME_RINVDSTADR`).
    Rejected,
    /// The connection was dropped right after it arrived.
    Disconnected,
    /// Garbage was written instead of its response.
    Garbage,
    /// Never answered (silent SMSC).
    Ignored,
    /// Answered with a `generic_nack`.
    Nacked,
    /// Accepted, but answered with a `submit_sm_resp` the client cannot decode.
    Malformed,
    /// The SMSC restarted right after it arrived, unanswered.
    Restarted,
}

/// One `submit_sm` as the SMSC received it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReceivedSms {
    pub session: SessionId,
    pub system_id: String,
    pub sequence_number: u32,
    pub source: String,
    pub source_ton: u8,
    pub source_npi: u8,
    pub destination: String,
    pub dest_ton: u8,
    pub dest_npi: u8,
    pub esm_class: u8,
    pub data_coding: u8,
    pub registered_delivery: u8,
    /// The `short_message` field as sent, UDH included.
    pub short_message: Vec<u8>,
    /// The `message_payload` TLV, when present.
    pub message_payload: Option<Vec<u8>>,
    /// The UDH (length octet included) when esm_class has UDHI set.
    pub udh: Option<Vec<u8>>,
    pub concat: Option<Concat>,
    pub outcome: SubmitOutcome,
    /// The id given in `submit_sm_resp` (as written there), for accepted submits.
    pub message_id: Option<String>,
    #[serde(skip)]
    pub received_at: SystemTime,
}

impl ReceivedSms {
    /// The message bytes without UDH: `message_payload` when present, else `short_message`.
    pub fn user_data(&self) -> &[u8] {
        if let Some(payload) = &self.message_payload {
            return payload;
        }
        let udh_len = self.udh.as_ref().map_or(0, Vec::len);
        self.short_message.get(udh_len..).unwrap_or_default()
    }

    /// The user data decoded by `data_coding` (GSM 7-bit unpacked, Latin-1 or UCS-2).
    pub fn text(&self) -> String {
        decode_user_data(self.data_coding, self.user_data())
    }

    pub(crate) fn from_submit(
        session: SessionId,
        system_id: &str,
        sequence_number: u32,
        submit: &SubmitSm,
    ) -> Self {
        let esm_class = u8::from(submit.esm_class);
        let short_message = submit.short_message().to_vec();
        let udh = if esm_class & 0x40 != 0 {
            split_udh(&short_message).map(<[u8]>::to_vec)
        } else {
            None
        };
        let mut message_payload = None;
        let (mut sar_ref, mut sar_total, mut sar_seq) = (None, None, None);
        for tlv in submit.tlvs() {
            match tlv.value() {
                Some(TlvValue::MessagePayload(payload)) => {
                    message_payload = Some(payload.value.to_vec());
                }
                Some(TlvValue::SarMsgRefNum(value)) => sar_ref = Some(*value),
                Some(TlvValue::SarTotalSegments(value)) => sar_total = Some(*value),
                Some(TlvValue::SarSegmentSeqnum(value)) => sar_seq = Some(*value),
                _ => {}
            }
        }
        let concat =
            udh.as_deref()
                .and_then(concat_from_udh)
                .or(match (sar_ref, sar_total, sar_seq) {
                    (Some(reference), Some(total), Some(part)) => Some(Concat {
                        kind: ConcatKind::Sar,
                        reference,
                        total,
                        part,
                    }),
                    _ => None,
                });
        Self {
            session,
            system_id: system_id.to_owned(),
            sequence_number,
            source: submit.source_addr.as_str().to_owned(),
            source_ton: u8::from(submit.source_addr_ton),
            source_npi: u8::from(submit.source_addr_npi),
            destination: submit.destination_addr.as_str().to_owned(),
            dest_ton: u8::from(submit.dest_addr_ton),
            dest_npi: u8::from(submit.dest_addr_npi),
            esm_class,
            data_coding: u8::from(submit.data_coding),
            registered_delivery: u8::from(submit.registered_delivery),
            short_message,
            message_payload,
            udh,
            concat,
            outcome: SubmitOutcome::Accepted,
            message_id: None,
            received_at: SystemTime::now(),
        }
    }
}

/// The UDH at the start of `short_message` (length octet included), if it fits.
fn split_udh(short_message: &[u8]) -> Option<&[u8]> {
    let udhl = usize::from(*short_message.first()?);
    short_message.get(..=udhl)
}

/// Concatenation info from a UDH's information elements (0x00 or 0x08).
pub(crate) fn concat_from_udh(udh: &[u8]) -> Option<Concat> {
    let mut rest = udh.get(1..)?;
    while let [iei, len, tail @ ..] = rest {
        let len = usize::from(*len);
        let data = tail.get(..len)?;
        match (*iei, data) {
            (0x00, [reference, total, part]) => {
                return Some(Concat {
                    kind: ConcatKind::Udh8,
                    reference: u16::from(*reference),
                    total: *total,
                    part: *part,
                });
            }
            (0x08, [hi, lo, total, part]) => {
                return Some(Concat {
                    kind: ConcatKind::Udh16,
                    reference: u16::from_be_bytes([*hi, *lo]),
                    total: *total,
                    part: *part,
                });
            }
            _ => {}
        }
        rest = tail.get(len..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udh_concat_is_found_among_other_elements() {
        // UDHL 9: a port IE (0x05, len 4) then 8-bit concat ref 7, part 2 of 3.
        let udh = [9, 0x05, 4, 0, 0, 0, 0, 0x00, 3, 7, 3, 2];
        let concat = concat_from_udh(&udh).expect("concat");
        assert_eq!(concat.kind, ConcatKind::Udh8);
        assert_eq!((concat.reference, concat.total, concat.part), (7, 3, 2));
        let udh16 = [6, 0x08, 4, 0x01, 0x02, 2, 1];
        let concat = concat_from_udh(&udh16).expect("concat");
        assert_eq!((concat.kind, concat.reference), (ConcatKind::Udh16, 0x0102));
        assert_eq!(concat_from_udh(&[3, 0x00, 3, 1]), None);
    }
}
