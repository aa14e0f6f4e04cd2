//! One way to set up an engine for the engine's integration tests.

#![allow(dead_code)]

use flit_engine::BackendKind;
use flit_engine::TransactionKind;
use flit_engine::ids::TenantId;
use flit_engine::{Engine, EngineConfig, NewTenant};

/// An engine on a store of `kind` in `dir`.
pub async fn engine(dir: &std::path::Path, kind: BackendKind) -> Engine {
    Engine::open(dir, kind, EngineConfig::default())
        .await
        .expect("engine opens")
}

/// A tenant with `credits` and the approved sender ID `Flit`.
pub async fn funded_tenant(engine: &Engine, credits: i64) -> TenantId {
    let tenant = engine
        .create_tenant(NewTenant {
            name: "t".into(),
            ..NewTenant::default()
        })
        .await
        .expect("tenant");
    engine
        .add_credits(
            tenant.id,
            TransactionKind::Purchase,
            credits,
            "seed".into(),
            None,
        )
        .await
        .expect("credits");
    engine
        .create_sender_id(tenant.id, "Flit")
        .await
        .expect("sender");
    tenant.id
}
