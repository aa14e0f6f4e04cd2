//! Routes at run time (SPEC §8): which binds take which destinations, by longest prefix,
//! priority and weight. Persisted, and published to the router at once.

use flit_storage::Batch;

use crate::engine::Engine;
use crate::error::EngineError;
use crate::ids::{BindId, RouteId};
use crate::store::records::RouteRecord;
use crate::store::tables;

#[derive(Clone, Debug, Default)]
pub struct NewRoute {
    pub prefix: String,
    pub binds: Vec<BindId>,
    pub priority: i32,
    pub weights: Vec<u32>,
}

impl Engine {
    pub async fn create_route(&self, new: NewRoute) -> Result<RouteRecord, EngineError> {
        let prefix = new.prefix.trim().trim_start_matches('+').to_string();
        if !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > 15 {
            return Err(EngineError::invalid(
                "invalid_prefix",
                "`prefix` must be up to 15 digits of the international number (\"\" = every number)",
            ));
        }
        if new.binds.is_empty() {
            return Err(EngineError::invalid(
                "missing_binds",
                "`bindIds` must name at least one bind",
            ));
        }
        for bind in &new.binds {
            if self.bind_record(*bind)?.is_none() {
                return Err(EngineError::NotFound { what: "bind" });
            }
        }
        if !new.weights.is_empty() && new.weights.len() != new.binds.len() {
            return Err(EngineError::invalid(
                "invalid_weights",
                "`weights` must have one weight per bind",
            ));
        }
        let route = RouteRecord {
            id: RouteId::new(),
            prefix,
            binds: new.binds,
            priority: new.priority,
            weights: new.weights,
        };
        let mut batch = Batch::new();
        tables::ROUTES.put(&mut batch, &route.id, &route);
        self.store().commit(batch).await?;
        self.reload_routes()?;
        Ok(route)
    }

    pub async fn remove_route(&self, id: RouteId) -> Result<(), EngineError> {
        if tables::ROUTES.get(self.store(), &id)?.is_none() {
            return Err(EngineError::NotFound { what: "route" });
        }
        let mut batch = Batch::new();
        tables::ROUTES.delete(&mut batch, &id);
        self.store().commit(batch).await?;
        self.reload_routes()?;
        Ok(())
    }

    pub fn routes(&self) -> Result<Vec<RouteRecord>, EngineError> {
        Ok(tables::ROUTES.values(self.store(), &())?)
    }

    /// Publishes the stored routes to the router and lets parked work try them.
    pub(crate) fn reload_routes(&self) -> Result<(), EngineError> {
        let routes = self.routes()?;
        *self
            .dispatch()
            .routes
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = routes;
        self.dispatch().unpark();
        Ok(())
    }
}
