//! A customer's `submit_sm` through the accept path: its text read by its `data_coding`, its
//! addresses as the HTTP API takes them, a part of a concatenated message handed to `parts.rs`,
//! and the engine's refusals in SMPP's terms.

use super::ServerShared;
use super::parts;
use super::pdu::{self, SubmitContent};
use crate::accept::{AcceptExtras, Content, SendRequest};
use crate::channel::smpp::Gsm7Mode;
use crate::channel::smpp::coding::{self, Fragment};
use crate::engine::Engine;
use crate::error::{EngineError, Invalid};
use crate::ids::{MessageId, SmppAccountId};
use crate::store::records::{SmppAccountRecord, SmppOrigin};

/// TON 1: the address is an international number.
const TON_INTERNATIONAL: u8 = 1;
/// Characters of the text a receipt repeats.
const RECEIPT_TEXT_CHARS: usize = 20;

/// Accepts one `submit_sm`: the id to answer with, or the status to refuse with.
pub(super) async fn submit(
    engine: &Engine,
    shared: &ServerShared,
    account: &SmppAccountRecord,
    submit: SubmitContent,
) -> Result<String, u32> {
    // Customers send the default alphabet one septet per octet, as SMPP carries it.
    let fragment = coding::fragment_from(&submit.content, Gsm7Mode::Unpacked);
    let outcome = match fragment.concat {
        None => {
            let message = Message::of(&fragment, &submit);
            message
                .send(engine, account, MessageId::new(), 1, Vec::new())
                .await
                .map(|id| id.to_string())
        }
        Some(concat) => parts::push(engine, shared, account, &submit, fragment, concat).await,
    };
    let result = match &outcome {
        Ok(_) => "accepted",
        Err(pdu::SUBMIT_FAILED) => "submit_failed",
        Err(pdu::MESSAGE_QUEUE_FULL) => "queue_full",
        Err(pdu::SYSTEM_ERROR) => "system_error",
        Err(_) => "invalid",
    };
    metrics::counter!("flit_smpp_server_submits_total", "result" => result).increment(1);
    outcome
}

/// A whole customer message, ready for the accept path.
pub(super) struct Message {
    pub text: String,
    pub source: String,
    pub destination: String,
    pub destination_ton: u8,
    pub registered_delivery: u8,
}

impl Message {
    fn of(fragment: &Fragment, submit: &SubmitContent) -> Message {
        Message {
            text: coding::decode_units(fragment.alphabet, &fragment.units),
            source: fragment.source.clone(),
            destination: fragment.destination.clone(),
            destination_ton: submit.destination_ton,
            registered_delivery: submit.registered_delivery,
        }
    }

    /// Sends it as message `id`, made of `parts` submits (`stored`: those of them on disk).
    pub(super) async fn send(
        self,
        engine: &Engine,
        account: &SmppAccountRecord,
        id: MessageId,
        parts: u8,
        stored: Vec<(SmppAccountId, String)>,
    ) -> Result<MessageId, u32> {
        let destination = self.destination.trim();
        if destination.is_empty() {
            return Err(pdu::INVALID_DESTINATION_ADDRESS);
        }
        // An international number may come without its `+`; anything else is read as the
        // tenant's national numbers are.
        let recipient =
            if self.destination_ton == TON_INTERNATIONAL && !destination.starts_with('+') {
                format!("+{destination}")
            } else {
                destination.to_string()
            };
        let source = self.source.trim();
        let origin = (self.registered_delivery & 0x03 != 0).then(|| SmppOrigin {
            message: id,
            tenant: account.tenant,
            account: account.id,
            registered_delivery: self.registered_delivery,
            parts,
            source: source.to_string(),
            destination: destination.to_string(),
            text_start: self.text.chars().take(RECEIPT_TEXT_CHARS).collect(),
            submitted_at: engine.clock().now_millis(),
        });
        let request = SendRequest {
            recipients: vec![recipient],
            content: Content::Text(self.text),
            sender: (!source.is_empty()).then(|| source.to_string()),
            ..SendRequest::default()
        };
        let extras = AcceptExtras {
            message_id: Some(id),
            smpp_origin: origin,
            smpp_parts: stored,
            via: "SMPP",
        };
        match engine.send_over_smpp(account.tenant, request, extras).await {
            Ok(outcome) => Ok(outcome.message_id),
            Err(error) => Err(status_of(&error)),
        }
    }
}

/// The SMPP status of a send the engine refused.
pub(super) fn status_of(error: &EngineError) -> u32 {
    match error {
        EngineError::InsufficientCredits { .. } | EngineError::Suspended => pdu::SUBMIT_FAILED,
        EngineError::BacklogFull { .. } => pdu::MESSAGE_QUEUE_FULL,
        EngineError::Invalid(
            Invalid::UnknownSenderId(_) | Invalid::NoSenderId | Invalid::SenderIdForm,
        ) => pdu::INVALID_SOURCE_ADDRESS,
        EngineError::Invalid(
            Invalid::NoValidRecipients(_) | Invalid::NoRecipients | Invalid::Phone(_),
        ) => pdu::INVALID_DESTINATION_ADDRESS,
        EngineError::Invalid(Invalid::EmptyMessage | Invalid::MessageTooLong(_)) => {
            pdu::INVALID_MESSAGE_LENGTH
        }
        EngineError::Invalid(_) => pdu::SUBMIT_FAILED,
        _ => pdu::SYSTEM_ERROR,
    }
}

/// Whether a refusal would be the same on a retry (the parts held for it can go).
pub(super) fn is_permanent(status: u32) -> bool {
    matches!(
        status,
        pdu::INVALID_SOURCE_ADDRESS
            | pdu::INVALID_DESTINATION_ADDRESS
            | pdu::INVALID_MESSAGE_LENGTH
    )
}
