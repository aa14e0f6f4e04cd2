//! A tenant's phones through the engine's own calls.

mod common;

use flit_engine::{BackendKind, MAX_DEVICES, NewDevice, Pairing};

/// Phones registering all at once stop at the cap: counting a tenant's phones and writing the
/// new one are one step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phones_registering_at_once_stop_at_the_cap() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = common::engine(dir.path(), BackendKind::Redb).await;
    let tenant = common::funded_tenant(&engine, 10).await;
    let (_, token) = engine
        .create_registration_token(tenant)
        .await
        .expect("registration token");
    let attempts = MAX_DEVICES + 40;
    let registrations: Vec<_> = (0..attempts)
        .map(|_| {
            let engine = engine.clone();
            let pairing = Pairing::Token(token.clone());
            tokio::spawn(
                async move { engine.register_device(&pairing, NewDevice::default()).await },
            )
        })
        .collect();
    let mut registered = 0;
    let mut refused = 0;
    for registration in registrations {
        match registration.await.expect("joined") {
            Ok(Some(_)) => registered += 1,
            Ok(None) => panic!("the token stands for the tenant"),
            Err(_) => refused += 1,
        }
    }
    assert_eq!(registered, MAX_DEVICES, "{refused} refused");
    assert_eq!(refused, attempts - MAX_DEVICES);
    assert_eq!(engine.devices(tenant).expect("devices").len(), MAX_DEVICES);
    engine.shutdown().await;
}
