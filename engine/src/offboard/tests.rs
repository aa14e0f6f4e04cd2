//! Deleting a tenant, checked on the whole store: after it, no key and no value of any table
//! names the tenant or anything it owned, and another tenant's data is as it was.

use std::sync::Arc;
use std::time::Duration;

use flit_storage::{BackendKind, Batch, Scan, codec};

use crate::ids::{BindId, MessageId, TenantId};
use crate::secrets;
use crate::store::Key;
use crate::store::records::{
    DeviceRoute, MessageRecord, RecipientRecord, Scopes, SmscMapping, StatusCounts,
    TransactionKind, now_millis,
};
use crate::store::tables::{self, TREES};
use crate::tenants::actor::IdempotencyClaim;
use crate::{
    Content, Engine, EngineConfig, EngineError, ExportRecord, Msisdn, NewContact, NewTenant,
    Pairing, Resolve, SendRequest, WebhookSettings,
};

/// Resolves no name: a webhook's URL is taken without a DNS query, and with no transport
/// nothing is sent, so its deliveries stay in the outbox.
struct NoNames;

impl Resolve for NoNames {
    fn resolve(
        &self,
        _host: String,
        _port: u16,
    ) -> futures::future::BoxFuture<'static, std::io::Result<Vec<std::net::SocketAddr>>> {
        Box::pin(async { Err(std::io::Error::other("no names here")) })
    }
}

async fn open(dir: &std::path::Path) -> Engine {
    let config = EngineConfig {
        webhooks: WebhookSettings {
            resolver: Arc::new(NoNames),
            ..WebhookSettings::default()
        },
        ..EngineConfig::default()
    };
    Engine::open(dir, BackendKind::Redb, config)
        .await
        .expect("engine opens")
}

async fn tenant(engine: &Engine, name: &str, credits: i64) -> TenantId {
    let tenant = engine
        .create_tenant(NewTenant {
            name: name.into(),
            ..NewTenant::default()
        })
        .await
        .expect("tenant")
        .id;
    engine
        .add_credits(
            tenant,
            TransactionKind::Purchase,
            credits,
            "seed".into(),
            None,
        )
        .await
        .expect("credits");
    tenant
}

fn text(message: &str, to: &[&str]) -> SendRequest {
    SendRequest {
        recipients: to.iter().map(|number| number.to_string()).collect(),
        content: Content::Text(message.into()),
        ..SendRequest::default()
    }
}

/// What a tenant owns across the concerns: messages (sent, scheduled, for its phones, with an
/// idempotency key), contacts in a group, a template, a webhook with events waiting, a phone,
/// a registration token, an API key and an SMPP account. Answers the ids that name its
/// records.
async fn populate(engine: &Engine, tenant: TenantId) -> Vec<Vec<u8>> {
    let mut owned: Vec<Vec<u8>> = vec![tenant.encode()];
    let webhook = engine
        .create_webhook(
            tenant,
            "https://hooks.example.com/flit",
            &["message.sent".to_string(), "message.delivered".to_string()],
        )
        .await
        .expect("webhook");
    owned.push(webhook.id.encode());
    let group = engine.create_group(tenant, "VIP").await.expect("group");
    for phone in ["0201234567", "0241234567"] {
        let contact = engine
            .create_contact(
                tenant,
                NewContact {
                    phone: phone.into(),
                    first_name: Some("Ama".into()),
                    ..NewContact::default()
                },
                Some(group.id),
            )
            .await
            .expect("contact");
        owned.push(contact.record.id.encode());
    }
    engine
        .create_template(tenant, "Hello", "Hi {{firstName}}")
        .await
        .expect("template");
    let (key, _) = engine
        .create_api_key(tenant, "key".into(), Scopes::all())
        .await
        .expect("key");
    owned.push(key.id.encode());
    let account = engine
        .create_smpp_account(
            tenant,
            crate::NewSmppAccount {
                system_id: system_id_of(tenant),
                password: "secret".into(),
                ..crate::NewSmppAccount::default()
            },
        )
        .await
        .expect("SMPP account");
    owned.push(account.id.encode());
    let user = engine
        .create_user(
            Some(tenant),
            crate::NewUser {
                email: format!("{}@acme.example", system_id_of(tenant)),
                password: "long enough password".into(),
                role: crate::Role::Admin,
            },
        )
        .await
        .expect("console user");
    owned.push(user.id.encode());
    engine.start_session(&user).await.expect("session");
    let (_, token) = engine
        .create_registration_token(tenant)
        .await
        .expect("registration token");
    let phone = engine
        .register_device(&Pairing::Token(token), crate::NewDevice::default())
        .await
        .expect("registered")
        .expect("a phone");
    owned.push(phone.device.id.encode());
    let mut sends = vec![
        text("now", &["0201234567", "0241234567", "0261230000"]),
        SendRequest {
            group_ids: vec![group.id],
            ..text("to the group", &[])
        },
        SendRequest {
            schedule_at: Some(now_millis() + 3_600_000),
            ..text("later", &["0201234567"])
        },
        SendRequest {
            idempotency: Some(IdempotencyClaim {
                key_hash: secrets::sha256(b"once"),
                fingerprint: secrets::sha256(b"body"),
            }),
            ..text("once", &["0201234567"])
        },
    ];
    // Through its phone, which pulls it (a pull also makes the phone online).
    engine
        .device_pull(phone.device.id, 10, false)
        .await
        .expect("pulled");
    sends.push(SendRequest {
        device: Some(DeviceRoute::default()),
        ..text("by phone", &["0201234567"])
    });
    for send in sends {
        let sent = engine.send(tenant, send).await.expect("sent");
        owned.push(sent.message_id.encode());
    }
    for _ in 0..50 {
        if !engine
            .device_pull(phone.device.id, 10, false)
            .await
            .expect("pulled")
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    owned
}

/// The `system_id` of the tenant's SMPP account: they are unique across tenants, so one made
/// of the tenant id's random end.
fn system_id_of(tenant: TenantId) -> String {
    let text = tenant.to_string();
    format!("esme{}", &text[text.len() - 10..])
}

/// Every (tree, key) whose key holds one of `needles` (raw, as keys write ids) or whose value
/// holds one (as values encode them).
fn traces(engine: &Engine, needles: &[Vec<u8>]) -> Vec<(&'static str, Vec<u8>)> {
    let encoded: Vec<Vec<u8>> = needles
        .iter()
        .map(|raw| {
            let id = u128::from_be_bytes(raw[..16].try_into().expect("an id"));
            codec::encode(&id)[1..].to_vec()
        })
        .collect();
    let contains = |haystack: &[u8], needle: &[u8]| {
        haystack
            .windows(needle.len())
            .any(|window| window == needle)
    };
    let mut found = Vec::new();
    for tree in TREES {
        let page = engine.store().scan(&Scan::prefix(tree, &[])).expect("scan");
        for (key, value) in page.items {
            let named = needles.iter().any(|needle| contains(&key, needle))
                || encoded.iter().any(|needle| contains(&value, needle));
            if named {
                found.push((*tree, key));
            }
        }
    }
    found
}

fn message_ids(engine: &Engine, tenant: TenantId) -> Vec<MessageId> {
    tables::MESSAGES
        .values(engine.store(), &tenant)
        .expect("messages")
        .into_iter()
        .map(|message| message.id)
        .collect()
}

#[tokio::test]
async fn a_deleted_tenant_leaves_nothing_behind_and_the_others_are_untouched() {
    let dir = tempfile::tempdir().expect("dir");
    let engine = open(dir.path()).await;
    let doomed = tenant(&engine, "Doomed Ltd", 1_000).await;
    let kept = tenant(&engine, "Kept Ltd", 1_000).await;
    let owned = populate(&engine, doomed).await;
    populate(&engine, kept).await;
    // A carrier that never sends receipts leaves its mappings behind.
    let mut batch = Batch::new();
    let message = MessageId::from_bytes(owned[owned.len() - 1][..16].try_into().expect("id"));
    let mapping = SmscMapping {
        tenant: doomed,
        message,
        index: 0,
        part_bits: 1,
        keys: vec!["abc123".into()],
    };
    tables::SMSC_IDS.put(&mut batch, &(BindId::new(), "abc123".to_string()), &mapping);
    engine.store().commit(batch).await.expect("written");
    assert!(!traces(&engine, &owned).is_empty(), "the check sees them");
    let kept_messages = message_ids(&engine, kept);
    let kept_balance = engine.balance(kept).expect("balance");

    assert!(matches!(
        engine.delete_tenant(doomed).await,
        Err(EngineError::Conflict(crate::Conflict::TenantActive))
    ));
    engine.suspend_tenant(doomed).await.expect("suspended");
    assert!(matches!(
        engine.send(doomed, text("more", &["0201234567"])).await,
        Err(EngineError::Suspended)
    ));
    // Deleted while the sandbox still has its messages in hand: their answers and receipts
    // arrive after it is gone.
    let removal = engine.delete_tenant(doomed).await.expect("deleted");
    assert_eq!(removal.messages, 5);
    assert!(removal.records > 0);
    assert_eq!(engine.tenant(doomed), None);
    assert!(matches!(
        engine.delete_tenant(doomed).await,
        Err(EngineError::NotFound(crate::Missing::Tenant))
    ));
    assert_eq!(traces(&engine, &owned), Vec::new());

    // What was in flight for it finishes nowhere: nothing of it is written again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(traces(&engine, &owned), Vec::new());

    assert_eq!(message_ids(&engine, kept), kept_messages);
    assert_eq!(engine.balance(kept).expect("balance"), kept_balance);
    assert_eq!(engine.webhooks(kept).expect("webhooks").len(), 1);
    assert_eq!(engine.devices(kept).expect("devices").len(), 1);
    let kept_account = engine.smpp_accounts(kept).expect("SMPP accounts");
    assert_eq!(kept_account.len(), 1);
    // The deleted tenant's `system_id` is free again.
    engine
        .create_smpp_account(
            kept,
            crate::NewSmppAccount {
                system_id: system_id_of(doomed),
                password: "secret".into(),
                ..crate::NewSmppAccount::default()
            },
        )
        .await
        .expect("the system_id is free");
    engine
        .send(kept, text("still here", &["0201234567"]))
        .await
        .expect("the other tenant sends");
    engine.shutdown().await;
    drop(engine);

    let engine = open(dir.path()).await;
    assert_eq!(engine.tenant(doomed), None, "not back after a restart");
    assert_eq!(traces(&engine, &owned), Vec::new());
    assert!(engine.tenant(kept).is_some());
    engine.shutdown().await;
}

#[tokio::test]
async fn an_export_lists_every_record_a_page_at_a_time() {
    let dir = tempfile::tempdir().expect("dir");
    let engine = open(dir.path()).await;
    let tenant = tenant(&engine, "Exported", 1_000).await;
    populate(&engine, tenant).await;
    // A message with more recipients than one page holds.
    let many: Vec<String> = (0..1_200)
        .map(|i| format!("020{:07}", 1_000_000 + i))
        .collect();
    let mut batch = Batch::new();
    let big = MessageId::new();
    let mut record = message(tenant, big, 1_200);
    record.counts.delivered = 1_200;
    tables::MESSAGES.put(&mut batch, &(tenant, big), &record);
    for (block, numbers) in many.chunks(tables::RECIPIENT_BLOCK as usize).enumerate() {
        let recipients: Vec<RecipientRecord> = numbers
            .iter()
            .map(|number| RecipientRecord::new(msisdn(number), 1))
            .collect();
        tables::RECIPIENTS.put(&mut batch, &(big, block as u32), &recipients);
    }
    engine.store().commit(batch).await.expect("written");

    let mut cursor = None;
    let mut pages = 0;
    let mut kinds: Vec<&'static str> = Vec::new();
    let mut recipients_of_big = 0;
    loop {
        let (records, next) = engine.export_page(tenant, cursor).expect("a page");
        assert!(
            records.len() <= 1_000,
            "a page is bounded: {}",
            records.len()
        );
        pages += 1;
        for record in &records {
            let kind = match record {
                ExportRecord::Tenant { .. } => "tenant",
                ExportRecord::SenderId(_) => "sender_id",
                ExportRecord::ApiKey(_) => "api_key",
                ExportRecord::SmppAccount(_) => "smpp_account",
                ExportRecord::User(user) => {
                    assert!(user.tenant == Some(tenant));
                    "user"
                }
                ExportRecord::Contact { groups, .. } => {
                    assert_eq!(groups.len(), 1, "its group comes with it");
                    "contact"
                }
                ExportRecord::Group(_) => "group",
                ExportRecord::Template(_) => "template",
                ExportRecord::Webhook(_) => "webhook",
                ExportRecord::Device(_) => "device",
                ExportRecord::Transaction(_) => "transaction",
                ExportRecord::Message(_) => "message",
                ExportRecord::Recipient { message, .. } => {
                    if *message == big {
                        recipients_of_big += 1;
                    }
                    "recipient"
                }
                ExportRecord::Inbound(_) => "inbound",
            };
            if kinds.last() != Some(&kind) {
                kinds.push(kind);
            }
        }
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert!(pages > 2, "{pages} pages");
    assert_eq!(recipients_of_big, 1_200);
    assert_eq!(
        kinds[..12],
        [
            "tenant",
            "sender_id",
            "api_key",
            "smpp_account",
            "user",
            "contact",
            "group",
            "template",
            "webhook",
            "device",
            "transaction",
            "message",
        ]
    );
    assert!(!kinds.contains(&"inbound"), "none received");
    assert!(matches!(
        engine.export_page(TenantId::new(), None),
        Err(EngineError::NotFound(crate::Missing::Tenant))
    ));
    engine.shutdown().await;
}

fn msisdn(local: &str) -> Msisdn {
    Msisdn::parse(local, crate::Country::GHANA, crate::Validation::Structural).expect("a number")
}

/// A delivered message of `recipients` recipients, as the accept path writes one.
fn message(tenant: TenantId, id: MessageId, recipients: u32) -> MessageRecord {
    MessageRecord {
        id,
        tenant,
        text: "bulk".into(),
        sender: "Bulk".into(),
        campaign: None,
        recipient_count: recipients,
        credits: i64::from(recipients),
        price_per_part: 1,
        counts: StatusCounts {
            delivered: recipients,
            ..StatusCounts::default()
        },
        scheduled_at: None,
        validity_until: None,
        sent_at: None,
        created_at: now_millis(),
    }
}

/// Messages written straight to the store (as many sends would leave them), `count` of them
/// with one recipient each.
async fn bulk_messages(engine: &Engine, tenant: TenantId, count: usize) {
    let recipient = vec![RecipientRecord::new(msisdn("0201234567"), 1)];
    let mut batch = Batch::new();
    for n in 0..count {
        let id = MessageId::new();
        tables::MESSAGES.put(&mut batch, &(tenant, id), &message(tenant, id, 1));
        tables::RECIPIENTS.put(&mut batch, &(id, 0), &recipient);
        if batch.len() >= 10_000 || n + 1 == count {
            engine
                .store()
                .commit(std::mem::take(&mut batch))
                .await
                .expect("written");
        }
    }
}

/// A tenant of many messages is deleted in bounded rounds: another tenant's sends are
/// answered meanwhile, each in far less time than the whole deletion takes.
async fn delete_many(count: usize) {
    let dir = tempfile::tempdir().expect("dir");
    let engine = open(dir.path()).await;
    let big = tenant(&engine, "Load Test", 10).await;
    let other = tenant(&engine, "Other", 1_000_000).await;
    bulk_messages(&engine, big, count).await;
    engine.suspend_tenant(big).await.expect("suspended");

    let started = std::time::Instant::now();
    let deletion = tokio::spawn({
        let engine = engine.clone();
        async move { engine.delete_tenant(big).await }
    });
    let mut slowest = Duration::ZERO;
    let mut sends = 0;
    while !deletion.is_finished() {
        let sent = std::time::Instant::now();
        engine
            .send(other, text("meanwhile", &["0201234567"]))
            .await
            .expect("sent during the deletion");
        slowest = slowest.max(sent.elapsed());
        sends += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let removal = deletion.await.expect("joined").expect("deleted");
    let took = started.elapsed();
    assert_eq!(removal.messages, count as u64);
    assert_eq!(
        tables::MESSAGES.count(engine.store(), &big).expect("count"),
        0
    );
    assert_eq!(
        tables::RECIPIENTS
            .count(engine.store(), &())
            .expect("count"),
        sends,
        "only the other tenant's recipients are left"
    );
    assert!(sends > 0);
    assert!(
        slowest < took / 2 || slowest < Duration::from_millis(500),
        "a send waited {slowest:?} during a deletion of {took:?}"
    );
    engine.shutdown().await;
}

/// The figure from the field: a load test's tenant with 145,000 messages, deleted in rounds
/// while another tenant sends.
#[tokio::test]
async fn a_tenant_of_145_000_messages_is_deleted_in_rounds_while_others_send() {
    delete_many(145_000).await;
}
