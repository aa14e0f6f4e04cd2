//! Credits: purchases, bonuses and adjustments through the tenant's actor, and the ledger read
//! back. Charges for sends come from the accept path; refunds from dispatch.

use ractor::rpc::CallResult;

use crate::engine::Engine;
use crate::error::{EngineError, Invalid, Unavailable};
use crate::ids::TenantId;
use crate::store::records::{TransactionKind, TransactionRecord, UnixMillis};
use crate::store::tables;
use crate::store::{PageRequest, Paged};
use crate::tenants::actor::{Credit, IdempotencyClaim, TenantMsg};

/// Bounds that keep every price and balance computation far from `i64` overflow.
pub const MAX_CREDIT_AMOUNT: i64 = 1_000_000_000_000;

#[derive(Clone, Copy, Debug, Default)]
pub struct TransactionFilter {
    pub kind: Option<TransactionKind>,
    pub from: Option<UnixMillis>,
    pub until: Option<UnixMillis>,
}

impl Engine {
    pub async fn add_credits(
        &self,
        tenant: TenantId,
        kind: TransactionKind,
        amount: i64,
        description: String,
        idempotency: Option<IdempotencyClaim>,
    ) -> Result<TransactionRecord, EngineError> {
        if kind == TransactionKind::Usage {
            return Err(EngineError::from(Invalid::CreditKind));
        }
        if amount == 0
            || (kind != TransactionKind::Adjustment && amount < 0)
            || !(-MAX_CREDIT_AMOUNT..=MAX_CREDIT_AMOUNT).contains(&amount)
        {
            return Err(EngineError::from(Invalid::CreditAmount {
                max: MAX_CREDIT_AMOUNT,
            }));
        }
        let entry = self.entry(tenant)?;
        let actor = self.actor(&entry)?;
        let credit = Credit {
            kind,
            amount,
            description,
            reference: None,
            idempotency,
            settles: Vec::new(),
            overdraw: false,
        };
        let credited = match actor
            .call(|reply| TenantMsg::Credit(credit, reply), None)
            .await
        {
            Ok(CallResult::Success(result)) => result?,
            _ => {
                return Err(EngineError::from(Unavailable::TenantRestarting));
            }
        };
        if let Err(error) = credited.durable.await {
            let _ = actor.cast(TenantMsg::Resync);
            return Err(error.into());
        }
        Ok(credited.transaction)
    }

    /// Ledger entries newest first.
    pub fn transactions(
        &self,
        tenant: TenantId,
        filter: TransactionFilter,
        page: PageRequest,
    ) -> Result<Paged<TransactionRecord>, EngineError> {
        let scan = tables::LEDGER.newest_first(tenant, filter.from, filter.until);
        Ok(
            tables::LEDGER.paged(self.store(), scan, page, |transaction| {
                filter.kind.is_none_or(|kind| transaction.kind == kind)
            })?,
        )
    }

    /// Every ledger entry of a tenant, oldest first (audits and tests).
    pub fn ledger(&self, tenant: TenantId) -> Result<Vec<TransactionRecord>, EngineError> {
        Ok(tables::LEDGER.values(self.store(), &tenant)?)
    }
}

/// The credits `parts` segments cost at `price` each.
pub(crate) fn credits_for(parts: i64, price: i64) -> Result<i64, EngineError> {
    parts.checked_mul(price).ok_or_else(too_costly)
}

pub(crate) fn too_costly() -> EngineError {
    EngineError::from(Invalid::AmountOutOfRange)
}
