//! The checks after the drain, from the client's own record: every acknowledged message
//! exists and is final, every charge belongs to a stored message and none is charged twice,
//! every tenant's ledger balances, and what the SMSC received twice (or never).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use futures::StreamExt as _;
use reqwest::Method;
use serde_json::Value;
use tokio::time::Instant;

use super::load::{Ack, id_in_text};
use crate::e2e::client::{Flit, HttpFailure};
use crate::smsc::{ReceivedSms, SubmitOutcome};

/// Message states after which nothing changes.
pub fn is_final(status: &str) -> bool {
    matches!(status, "DELIVERED" | "FAILED" | "CANCELLED")
}

/// What the status API said of the acknowledged messages at the end of the drain.
#[derive(Debug, Default, Clone)]
pub struct Finality {
    /// Acknowledged but not found (404): lost.
    pub missing: Vec<String>,
    /// Still PENDING or SENT when the drain's deadline passed.
    pub not_final: Vec<String>,
    /// Found with a recipient count other than the answer's `recipientsSent`.
    pub count_mismatch: Vec<String>,
    pub delivered: u64,
    pub failed: u64,
}

/// Polls `GET /api/v1/sms/status/:id` for every acknowledged message until all are final or
/// `deadline` passes. `keys` are the tenants' API keys by index.
pub async fn wait_final(
    flit: &Flit,
    keys: &[String],
    acks: &[Ack],
    deadline: Instant,
    concurrency: usize,
) -> Finality {
    let mut open: Vec<&Ack> = acks.iter().collect();
    let mut finality = Finality::default();
    loop {
        let polled: Vec<(&Ack, Result<Stored, StatusError>)> = futures::stream::iter(open)
            .map(|ack| async move {
                let key = &keys[ack.request.tenant];
                (ack, message_status(flit, key, &ack.answer.message_id).await)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let mut still_open = Vec::new();
        for (ack, polled) in polled {
            match polled {
                Ok(Stored { status, recipients }) if is_final(&status) => {
                    if status == "DELIVERED" {
                        finality.delivered += 1;
                    } else {
                        finality.failed += 1;
                    }
                    if recipients != ack.answer.recipients_sent {
                        finality.count_mismatch.push(format!(
                            "{}: {recipients} recipients stored, {} acknowledged",
                            ack.answer.message_id, ack.answer.recipients_sent
                        ));
                    }
                }
                Err(StatusError::NotFound) => finality.missing.push(ack.answer.message_id.clone()),
                _ => still_open.push(ack),
            }
        }
        if still_open.is_empty() {
            return finality;
        }
        if Instant::now() >= deadline {
            finality.not_final = still_open
                .iter()
                .map(|ack| ack.answer.message_id.clone())
                .collect();
            return finality;
        }
        open = still_open;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A stored message as the status API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub status: String,
    pub recipients: u64,
}

/// Why a message's status could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusError {
    /// 404: the message does not exist.
    NotFound,
    /// Anything else (transport, 5xx): worth another try.
    Other(String),
}

/// A message's status and recipient count.
pub async fn message_status(flit: &Flit, key: &str, id: &str) -> Result<Stored, StatusError> {
    match flit
        .call(Method::GET, &format!("/api/v1/sms/status/{id}"), key, None)
        .await
    {
        Ok(data) => Ok(Stored {
            status: data
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            recipients: data
                .get("recipientCount")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        }),
        Err(error) => match error.downcast_ref::<HttpFailure>() {
            Some(failure) if failure.status == reqwest::StatusCode::NOT_FOUND => {
                Err(StatusError::NotFound)
            }
            _ => Err(StatusError::Other(format!("{error:#}"))),
        },
    }
}

/// One ledger entry as `GET /api/v1/transactions` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub kind: String,
    pub amount: i64,
    /// The running balance right after this entry.
    pub balance: i64,
    pub reference: Option<String>,
}

/// The whole ledger of the key's tenant, newest first, and its balance.
pub async fn fetch_ledger(flit: &Flit, key: &str) -> anyhow::Result<(Vec<Entry>, i64)> {
    let mut entries = Vec::new();
    let mut page = 1u64;
    loop {
        let data = flit
            .call(
                Method::GET,
                &format!("/api/v1/transactions?limit=100&page={page}"),
                key,
                None,
            )
            .await
            .with_context(|| format!("reading page {page} of the ledger"))?;
        let listed = data
            .get("transactions")
            .and_then(Value::as_array)
            .with_context(|| format!("ledger page {page} has no `transactions`: {data}"))?;
        for entry in listed {
            entries.push(Entry {
                id: entry["id"].as_str().unwrap_or_default().to_owned(),
                kind: entry["type"].as_str().unwrap_or_default().to_owned(),
                amount: entry["amount"]
                    .as_i64()
                    .context("an entry without amount")?,
                balance: entry["balance"]
                    .as_i64()
                    .context("an entry without balance")?,
                reference: entry["reference"].as_str().map(str::to_owned),
            });
        }
        let more = data
            .pointer("/pagination/hasMore")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if !more || listed.is_empty() {
            break;
        }
        page += 1;
    }
    let balance = flit
        .call(Method::GET, "/api/v1/balance", key, None)
        .await
        .context("reading the balance")?
        .get("balance")
        .and_then(Value::as_i64)
        .context("the balance answer has no `balance`")?;
    Ok((entries, balance))
}

/// What one tenant's ledger says against the client's record.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LedgerCheck {
    pub entries: u64,
    pub sum: i64,
    pub balance: i64,
    /// Entries whose running balance is not the previous one plus their amount.
    pub chain_breaks: u64,
    /// Messages with more than one USAGE entry.
    pub double_charged: Vec<String>,
    /// USAGE entries whose message the client was never given (checked for existence next).
    pub charged_unacknowledged: Vec<String>,
    /// Acknowledged messages with credits used but no USAGE entry.
    pub uncharged: Vec<String>,
    /// USAGE entries whose amount is not minus the answer's `creditsUsed`.
    pub amount_mismatch: Vec<String>,
    pub refunds: u64,
}

impl LedgerCheck {
    /// The balance is the sum of every entry (the initial credit included) and the last
    /// entry's running balance.
    pub fn balances(&self) -> bool {
        self.sum == self.balance && self.chain_breaks == 0
    }
}

/// Checks a tenant's ledger (`entries` newest first) against the messages acknowledged to it
/// (message id → credits used).
pub fn check_ledger(
    entries: &[Entry],
    balance: i64,
    acknowledged: &HashMap<String, i64>,
) -> LedgerCheck {
    let mut check = LedgerCheck {
        entries: entries.len() as u64,
        sum: entries.iter().map(|e| e.amount).sum(),
        balance,
        ..LedgerCheck::default()
    };
    let mut running = 0i64;
    for entry in entries.iter().rev() {
        running += entry.amount;
        if entry.balance != running {
            check.chain_breaks += 1;
            running = entry.balance;
        }
    }
    if entries.first().is_some_and(|last| last.balance != balance) {
        check.chain_breaks += 1;
    }
    let mut usage: HashMap<&str, Vec<i64>> = HashMap::new();
    for entry in entries {
        match entry.kind.as_str() {
            "USAGE" => usage
                .entry(entry.reference.as_deref().unwrap_or(""))
                .or_default()
                .push(entry.amount),
            "REFUND" => check.refunds += 1,
            _ => {}
        }
    }
    for (message, amounts) in &usage {
        if amounts.len() > 1 {
            check.double_charged.push((*message).to_owned());
        }
        match acknowledged.get(*message) {
            None => check.charged_unacknowledged.push((*message).to_owned()),
            Some(credits) if amounts.iter().any(|a| *a != -credits) => {
                check.amount_mismatch.push((*message).to_owned());
            }
            Some(_) => {}
        }
    }
    for (message, credits) in acknowledged {
        if *credits > 0 && !usage.contains_key(message.as_str()) {
            check.uncharged.push(message.clone());
        }
    }
    check.double_charged.sort();
    check.charged_unacknowledged.sort();
    check.uncharged.sort();
    check.amount_mismatch.sort();
    check
}

/// What the SMSC received, against what the client had acknowledged.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SmscCheck {
    /// Accepted submits.
    pub accepted: u64,
    /// Accepted submits beyond the first for the same (destination, text).
    pub duplicates: u64,
    /// Duplicates by the kill they followed (the last kill before the resend).
    pub duplicates_per_kill: Vec<u64>,
    /// Duplicates sent before any kill: resends of a running server.
    pub duplicates_without_kill: u64,
    /// Acknowledged recipients the SMSC never accepted a submit for.
    pub unsent: u64,
    /// Accepted submits whose text belongs to no acknowledged request.
    pub unknown: u64,
}

/// The last nine digits: local (`0201234567`) and international (`233201234567`) forms of
/// one number agree on them, and the run's numbers differ in them.
fn number_key(number: &str) -> &str {
    &number[number.len().saturating_sub(9)..]
}

/// Counts duplicates and gaps. `group_numbers` are the recipients of every group send;
/// `kills` the moments of the kills, in order.
pub fn check_smsc(
    received: &[ReceivedSms],
    acks: &[Ack],
    group_numbers: &[String],
    kills: &[SystemTime],
) -> SmscCheck {
    let acknowledged: HashSet<u64> = acks.iter().map(|ack| ack.request.id).collect();
    let mut seen: HashMap<(String, String), Vec<SystemTime>> = HashMap::new();
    let mut check = SmscCheck {
        duplicates_per_kill: vec![0; kills.len()],
        ..SmscCheck::default()
    };
    for sms in received {
        if sms.outcome != SubmitOutcome::Accepted {
            continue;
        }
        check.accepted += 1;
        let text = sms.text();
        if !id_in_text(&text).is_some_and(|id| acknowledged.contains(&id)) {
            check.unknown += 1;
        }
        seen.entry((number_key(&sms.destination).to_owned(), text))
            .or_default()
            .push(sms.received_at);
    }
    for times in seen.values_mut() {
        times.sort();
        for resent in times.iter().skip(1) {
            check.duplicates += 1;
            match kills.iter().rposition(|kill| kill <= resent) {
                Some(kill) => check.duplicates_per_kill[kill] += 1,
                None => check.duplicates_without_kill += 1,
            }
        }
    }
    for ack in acks {
        let numbers = if ack.request.numbers.is_empty() {
            group_numbers
        } else {
            &ack.request.numbers
        };
        for number in numbers {
            let key = (number_key(number).to_owned(), ack.request.text.clone());
            if !seen.contains_key(&key) {
                check.unsent += 1;
            }
        }
    }
    check
}

/// Sends the request of every ack in `acks` again with its key and compares the answer with the
/// recorded one; returns the mismatches.
pub async fn replay_all(
    senders: &super::load::Senders,
    acks: &[Ack],
    concurrency: usize,
) -> Vec<String> {
    let senders = Arc::new(senders.clone());
    let results: Vec<Option<String>> = futures::stream::iter(acks)
        .map(|ack| {
            let senders = Arc::clone(&senders);
            async move {
                match senders.replay(&ack.request).await {
                    Ok(answer) if answer == ack.answer => None,
                    Ok(answer) => Some(format!(
                        "r{}: first {:?}, replay {:?}",
                        ack.request.id, ack.answer, answer
                    )),
                    Err(error) => Some(format!("r{}: replay failed: {error}", ack.request.id)),
                }
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    results.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crash::load::{Answer, Kind, Request};

    fn entry(kind: &str, amount: i64, balance: i64, reference: Option<&str>) -> Entry {
        Entry {
            id: format!("txn_{balance}"),
            kind: kind.into(),
            amount,
            balance,
            reference: reference.map(str::to_owned),
        }
    }

    #[test]
    fn a_clean_ledger_balances_and_ties_every_charge_to_its_message() {
        // Newest first.
        let entries = [
            entry("USAGE", -3, 95, Some("msg_b")),
            entry("USAGE", -2, 98, Some("msg_a")),
            entry("PURCHASE", 100, 100, None),
        ];
        let acked = HashMap::from([("msg_a".to_owned(), 2), ("msg_b".to_owned(), 3)]);
        let check = check_ledger(&entries, 95, &acked);
        assert!(check.balances(), "{check:?}");
        assert_eq!(check.sum, 95);
        assert!(check.double_charged.is_empty());
        assert!(check.charged_unacknowledged.is_empty());
        assert!(check.uncharged.is_empty());
        assert!(check.amount_mismatch.is_empty());
    }

    #[test]
    fn double_charges_orphans_gaps_and_broken_balances_are_found() {
        let entries = [
            entry("USAGE", -1, 96, Some("msg_x")),
            entry("USAGE", -2, 97, Some("msg_a")),
            entry("USAGE", -2, 98, Some("msg_a")),
            entry("PURCHASE", 100, 100, None),
        ];
        let acked = HashMap::from([("msg_a".to_owned(), 2), ("msg_c".to_owned(), 1)]);
        let check = check_ledger(&entries, 95, &acked);
        assert_eq!(check.double_charged, vec!["msg_a".to_owned()]);
        assert_eq!(check.charged_unacknowledged, vec!["msg_x".to_owned()]);
        assert_eq!(check.uncharged, vec!["msg_c".to_owned()]);
        // 100 - 2 = 98, then 98 - 2 should be 96 (says 97), then 97 - 1 = 96 fine; and the
        // balance (95) is the sum but not the last entry's running balance (96).
        assert_eq!(check.chain_breaks, 2);
        assert!(!check.balances());
    }

    fn received(destination: &str, text: &str) -> ReceivedSms {
        let submit = rusmpp::pdus::SubmitSm::builder()
            .destination_addr(destination.parse().expect("address"))
            .short_message(
                rusmpp::types::OctetString::from_vec(text.as_bytes().to_vec()).expect("fits"),
            )
            .build();
        let mut sms = ReceivedSms::from_submit(crate::smsc::SessionId(1), "flit", 1, &submit);
        sms.outcome = SubmitOutcome::Accepted;
        sms
    }

    #[test]
    fn smsc_duplicates_gaps_and_strangers_are_counted() {
        let request = Request::numbers(
            7,
            0,
            Kind::Bulk,
            vec!["0201234567".into(), "0241234567".into()],
        );
        let group = Request {
            numbers: Vec::new(),
            kind: Kind::Group,
            ..Request::numbers(8, 0, Kind::Group, Vec::new())
        };
        let ack = |request: Request| Ack {
            request,
            answer: Answer {
                message_id: "msg".into(),
                credits_used: 2,
                recipients_sent: 2,
            },
            attempts: 1,
        };
        let acks = [ack(request.clone()), ack(group.clone())];
        let group_numbers = vec!["0501111111".to_owned(), "0502222222".to_owned()];
        let mut submits = vec![
            received("233201234567", &request.text),
            received("233201234567", &request.text),
            received("233501111111", &group.text),
            received("233501111111", "Flit crash test r99"),
        ];
        let kill = SystemTime::now();
        let mut resent = received("233201234567", &request.text);
        resent.received_at = kill + Duration::from_millis(5);
        submits.push(resent);
        let check = check_smsc(&submits, &acks, &group_numbers, &[kill]);
        assert_eq!(check.accepted, 5);
        assert_eq!(check.duplicates, 2);
        // The first resend came before the kill, the second after it.
        assert_eq!(check.duplicates_without_kill, 1);
        assert_eq!(check.duplicates_per_kill, vec![1]);
        // 0241234567 of r7 and 0502222222 of the group never arrived.
        assert_eq!(check.unsent, 2);
        assert_eq!(check.unknown, 1);
    }
}
