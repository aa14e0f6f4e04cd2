//! The send path's readers over a real store.

use super::*;
use crate::error::Missing;
use crate::{ContactFilter, EngineConfig, NewContact, NewTenant, PageRequest};
use flit_storage::BackendKind;

async fn engine(dir: &std::path::Path) -> (Engine, TenantId) {
    let engine = Engine::open(dir, BackendKind::Sled, EngineConfig::default())
        .await
        .expect("engine");
    let tenant = engine
        .create_tenant(NewTenant {
            name: "t".into(),
            ..NewTenant::default()
        })
        .await
        .expect("tenant");
    (engine, tenant.id)
}

fn row(phone: &str, first_name: &str) -> NewContact {
    NewContact {
        phone: phone.into(),
        first_name: Some(first_name.into()),
        ..NewContact::default()
    }
}

#[tokio::test]
async fn send_path_readers_see_live_contacts_in_chunks() {
    let dir = tempfile::tempdir().expect("dir");
    let (engine, tenant) = engine(dir.path()).await;
    let group = engine.create_group(tenant, "All").await.expect("group");
    let rows = (0..25)
        .map(|i| row(&format!("02012345{i:02}"), &format!("n{i}")))
        .collect();
    let outcome = engine
        .import_contacts(tenant, rows, Some(group.id))
        .await
        .expect("import");
    assert_eq!(outcome.created, 25);
    let listed = engine
        .contacts(
            tenant,
            ContactFilter::default(),
            PageRequest {
                page: 1,
                limit: 200,
            },
        )
        .expect("list");
    let gone = listed.items[0].record.id;
    engine.delete_contact(tenant, gone).await.expect("delete");

    let mut chunks = Vec::new();
    engine
        .for_each_group_contact(tenant, group.id, 10, |contacts| {
            chunks.push(contacts.len());
            assert!(
                contacts
                    .iter()
                    .all(|c| c.id != gone && c.deleted_at.is_none())
            );
            Ok(())
        })
        .expect("group walk");
    assert_eq!(chunks.iter().sum::<usize>(), 24);
    assert!(chunks.iter().all(|len| *len <= 10));

    let mut sizes = Vec::new();
    engine
        .for_each_contact(tenant, 10, |contacts| {
            sizes.push(contacts.len());
            Ok(())
        })
        .expect("all walk");
    assert_eq!(sizes, vec![10, 10, 4]);

    let wanted = [listed.items[2].record.id, listed.items[1].record.id];
    let found = engine.contacts_by_ids(tenant, &wanted).expect("by ids");
    assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), wanted);
    assert!(matches!(
        engine.contacts_by_ids(tenant, &[wanted[0], gone]),
        Err(EngineError::NotFound(Missing::Contact))
    ));
    assert!(matches!(
        engine.for_each_group_contact(tenant, GroupId::new(), 10, |_| Ok(())),
        Err(EngineError::NotFound(Missing::Group))
    ));
}
